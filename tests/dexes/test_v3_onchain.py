"""Exact V3 math against the genuine pools on anvil, to the wei.

For each family (Uniswap V3 1.0.1, PancakeSwap V3 1.0.2, Algebra V1.9 = @cryptoalgebra/core
3.0.0) a pool is initialised, given liquidity in several ranges, then swapped hundreds of times
at random (exact in and out, both directions, crossing ticks and bitmap words, with and
without price limits) in batches of one transaction each, with mints and burns between
batches. Before applying each ``Swap`` log to our state we simulate the same order on our
state and require the event's amounts, price, tick and liquidity, and the tokens the pool
actually transferred, to be equal; after each batch our state must equal the pool's.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

import pytest

from dexes.algebra import events as algebra_events
from dexes.algebra.pool import AlgebraPoolState
from dexes.pancakeswap_v3 import events as pancake_events
from dexes.uniswap_v3 import events as uniswap_events
from dexes.uniswap_v3.events import MintEvent, SwapEvent
from dexes.uniswap_v3.pool import SwapRevertError, V3PoolState, bitmap_word_positions, ticks_in_bitmap_word
from dexes.uniswap_v3.tick_math import MAX_SQRT_RATIO, MIN_SQRT_RATIO, get_sqrt_ratio_at_tick
from tests.dexes.v3_chain import SWAP_FAILED_TOPIC, TRANSFER_TOPIC, V3Devnet, V3Pool

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BATCHES = 10
ORDERS_PER_BATCH = 100
PRICE_BAND = 9000  # ticks: limits keep the price within ±PRICE_BAND of tick 0

DECODERS = {
    "uniswap_v3": uniswap_events.decode_pool_event,
    "pancakeswap_v3": pancake_events.decode_pool_event,
    "algebra": algebra_events.decode_pool_event,
}


def _new_state(pool: V3Pool) -> V3PoolState:
    """Our state, built only from the pool's creation and Initialize logs."""
    if pool.family == "algebra":
        created = algebra_events.decode_pool(pool.creation_logs[0])
        state: V3PoolState = AlgebraPoolState.uninitialized(tick_spacing=created.tick_spacing)
    else:
        created = uniswap_events.decode_pool_created(pool.creation_logs[0])
        assert created.fee == pool.fee
        state = V3PoolState.uninitialized(fee=created.fee, tick_spacing=created.tick_spacing)
    assert created.pool == pool.address
    assert created.tick_spacing == pool.tick_spacing
    for log in pool.creation_logs[1:]:
        event = DECODERS[pool.family](log)
        if event is not None and getattr(event, "pool", None) == pool.address:
            state.apply_event(event)
    assert state.initialized
    return state


def _apply_logs(pool: V3Pool, state: V3PoolState, logs: list[dict[str, Any]]) -> list[Any]:
    events = []
    for log in logs:
        if log["address"].lower() != pool.address.lower():
            continue
        event = DECODERS[pool.family](log)
        if event is not None:
            state.apply_event(event)
            events.append(event)
    return events


def _random_order(rng: random.Random, state: V3PoolState) -> tuple[bool, int, int]:
    """(zeroForOne, amountSpecified, sqrtPriceLimitX96) valid for our predicted state."""
    tick = state.tick
    zero_for_one = rng.random() < (0.5 + tick / (2.5 * PRICE_BAND))
    magnitude = int(10 ** rng.uniform(2, 22))
    amount = magnitude if rng.random() < 0.5 else -magnitude
    if zero_for_one:
        low = max(-PRICE_BAND, tick - rng.choice([20, 200, 3000]))
        limit_tick = rng.randint(low, tick) if low < tick else tick - 1
        limit = get_sqrt_ratio_at_tick(limit_tick) + rng.randint(0, 1000)
        if limit >= state.sqrt_price_x96:
            limit = max(MIN_SQRT_RATIO + 1, state.sqrt_price_x96 - rng.randint(1, 10**12))
    else:
        high = min(PRICE_BAND, tick + rng.choice([20, 200, 3000]))
        limit_tick = rng.randint(tick + 1, high) if high > tick + 1 else tick + 2
        limit = get_sqrt_ratio_at_tick(limit_tick) - rng.randint(0, 1000)
        if limit <= state.sqrt_price_x96:
            limit = min(MAX_SQRT_RATIO - 1, state.sqrt_price_x96 + rng.randint(1, 10**12))
    return zero_for_one, amount, limit


def _check_batch(
    pool: V3Pool,
    state: V3PoolState,
    orders: list[tuple[bool, int, int]],
    logs: list[dict[str, Any]],
    stats: dict[str, Any],
) -> None:
    """Walk the batch's logs in order, simulating each order just before its Swap log."""
    decode = DECODERS[pool.family]
    index = 0
    transfers: list[tuple[str, str, str, int]] = []
    for log in logs:
        topic = log["topics"][0].lower()
        if topic == TRANSFER_TOPIC:
            source, dest = ("0x" + t[-40:] for t in log["topics"][1:3])
            transfers.append((log["address"].lower(), source, dest, int(log["data"], 16)))
            continue
        if topic == SWAP_FAILED_TOPIC:
            failed = int(log["data"][2:66], 16)
            assert failed == index
            with pytest.raises(SwapRevertError):
                state.swap(*orders[index])
            stats["reverted"] += 1
            index += 1
            transfers.clear()
            continue
        if log["address"].lower() != pool.address.lower():
            continue
        event = decode(log)
        if isinstance(event, SwapEvent):
            zero_for_one, amount, limit = orders[index]
            simulated = state.swap(zero_for_one, amount, limit)
            assert (simulated.amount0, simulated.amount1) == (event.amount0, event.amount1), (index, orders[index])
            assert (simulated.sqrt_price_x96, simulated.tick, simulated.liquidity) == (
                event.sqrt_price_x96,
                event.tick,
                event.liquidity,
            ), (index, orders[index])
            assert sorted(transfers) == sorted(_expected_transfers(pool, event)), index
            transfers.clear()
            stats["checked"] += 1
            stats["crossed"] += simulated.ticks_crossed
            stats["extra_steps"] += simulated.steps - 1 - simulated.ticks_crossed
            stats["exact_out"] += amount < 0
            stats["limit_hit"] += simulated.sqrt_price_x96 == limit
            index += 1
        if event is not None:
            state.apply_event(event)
            stats["fees"].add(state.fee)
    assert index == len(orders)


def _expected_transfers(pool: V3Pool, event: SwapEvent) -> list[tuple[str, str, str, int]]:
    harness, address = event.recipient.lower(), pool.address.lower()
    out = []
    for token, amount in ((pool.token0, event.amount0), (pool.token1, event.amount1)):
        if amount > 0:
            out.append((token.lower(), harness, address, amount))
        elif amount < 0:
            out.append((token.lower(), address, harness, -amount))
    return out


def _assert_state_matches_chain(net: V3Devnet, pool: V3Pool, state: V3PoolState, rng: random.Random) -> None:
    assert net.pool_state(pool) == (state.sqrt_price_x96, state.tick, state.liquidity)
    if pool.family == "algebra":
        assert net.algebra_fee(pool) == state.fee
    for tick in rng.sample(sorted(state.ticks), min(4, len(state.ticks))):
        info = state.ticks[tick]
        assert net.tick_net(pool, tick) == (info.liquidity_gross, info.liquidity_net)


def _run_family(net: V3Devnet, pool: V3Pool, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    state = _new_state(pool)
    spacing = pool.tick_spacing
    positions: dict[tuple[int, int], int] = {}

    def mint(lower: int, upper: int, amount: int) -> None:
        receipt = net.mint(pool, lower, upper, amount)
        events = _apply_logs(pool, state, receipt["logs"])
        assert any(isinstance(e, MintEvent) and e.amount == amount for e in events)
        positions[lower, upper] = positions.get((lower, upper), 0) + amount

    wide = (PRICE_BAND * 3 // spacing) * spacing
    mint(-wide, wide, 10**20)
    for _ in range(20):
        lower = rng.randrange(-PRICE_BAND // spacing, PRICE_BAND // spacing) * spacing
        upper = lower + rng.randint(1, 400 // spacing + 40) * spacing
        mint(lower, upper, int(10 ** rng.uniform(19, 22)))
    _assert_state_matches_chain(net, pool, state, rng)

    stats: dict[str, Any] = dict.fromkeys(
        ("checked", "crossed", "extra_steps", "exact_out", "limit_hit", "reverted"), 0
    )
    stats["fees"] = set()
    for _ in range(BATCHES):
        if pool.family == "algebra":
            net.increase_time(rng.choice([1, 13, 60, 600, 3600]))  # moves the dynamic fee
        predicted = state.copy()
        orders = []
        for _ in range(ORDERS_PER_BATCH):
            order = _random_order(rng, predicted)
            orders.append(order)
            try:
                result = predicted.swap(*order)
            except SwapRevertError:
                continue
            predicted.apply_swap(result.sqrt_price_x96, result.liquidity, result.tick)
        receipt = net.swaps(pool, orders)
        _check_batch(pool, state, orders, receipt["logs"], stats)
        _assert_state_matches_chain(net, pool, state, rng)
        # Liquidity changes between batches: a new range, and part of an old one burnt.
        lower = rng.randrange(-PRICE_BAND // spacing, PRICE_BAND // spacing) * spacing
        mint(lower, lower + rng.randint(1, 60) * spacing, int(10 ** rng.uniform(18, 21)))
        (lower, upper), amount = rng.choice(sorted(positions.items()))
        burnt = rng.randint(1, amount)
        positions[lower, upper] -= burnt
        _apply_logs(pool, state, net.burn(pool, lower, upper, burnt)["logs"])
        _assert_state_matches_chain(net, pool, state, rng)
    if pool.family != "algebra":
        _assert_loading_from_chain_gives_the_same_state(net, pool, state)
    return stats


def _assert_loading_from_chain_gives_the_same_state(net: V3Devnet, pool: V3Pool, state: V3PoolState) -> None:
    """What a scanner does on discovery: read the bitmap words around the price, then each
    marked tick, and build the state from those reads alone."""
    price, tick, liquidity = net.pool_state(pool)
    ticks = {}
    for word in bitmap_word_positions(tick, pool.tick_spacing, 4 * PRICE_BAND):
        (bits,) = net.call(pool.address, "tickBitmap(int16)", ["uint256"], word)
        for index in ticks_in_bitmap_word(word, bits, pool.tick_spacing):
            ticks[index] = net.tick_net(pool, index)
    loaded = V3PoolState.from_chain(
        sqrt_price_x96=price,
        tick=tick,
        liquidity=liquidity,
        fee=pool.fee,
        tick_spacing=pool.tick_spacing,
        ticks=ticks,
    )
    assert loaded.ticks == state.ticks
    assert loaded.tick_bitmap == state.tick_bitmap
    assert loaded.swap(True, 10**21) == state.swap(True, 10**21)


@pytest.mark.parametrize(
    ("family", "fee"),
    [("uniswap_v3", 500), ("uniswap_v3", 3000), ("pancakeswap_v3", 100), ("pancakeswap_v3", 2500), ("algebra", 0)],
)
def test_simulated_swaps_equal_the_genuine_pools_to_the_wei(v3_devnet: V3Devnet, family: str, fee: int) -> None:
    start_price = get_sqrt_ratio_at_tick(random.Random(fee).randint(-500, 500)) + 12345
    if family == "uniswap_v3":
        pool = v3_devnet.uniswap_pool(fee, start_price)
    elif family == "pancakeswap_v3":
        pool = v3_devnet.pancake_pool(fee, start_price)
    else:
        pool = v3_devnet.algebra_pool(start_price)
    stats = _run_family(v3_devnet, pool, seed=zlib.crc32(f"{family}-{fee}".encode()))
    # The random orders really covered the cases: nearly all executed, both kinds, many
    # initialized ticks crossed, price limits reached, bitmap-word stops (Uniswap, PancakeSwap)
    # and a fee that moved (Algebra).
    orders = BATCHES * ORDERS_PER_BATCH
    assert stats["checked"] + stats["reverted"] == orders
    assert stats["checked"] >= orders * 0.9
    assert orders * 0.3 <= stats["exact_out"] <= orders * 0.7
    assert stats["crossed"] >= 200
    assert stats["limit_hit"] >= 50
    if family == "algebra":
        assert len(stats["fees"]) >= 3
        assert stats["extra_steps"] == 0  # Algebra never stops between initialized ticks
    else:
        assert stats["fees"] == {fee}
        assert stats["extra_steps"] >= 5


def test_quoter_v2_quotes_equal_our_simulation(v3_devnet: V3Devnet) -> None:
    """The periphery's own QuoterV2 (it runs the real swap and reverts) agrees with us, both kinds."""
    rng = random.Random(2024)
    pool = v3_devnet.uniswap_pool(10000, get_sqrt_ratio_at_tick(-77) + 5)
    state = _new_state(pool)
    for _ in range(12):
        lower = rng.randrange(-100, 100) * pool.tick_spacing
        receipt = v3_devnet.mint(
            pool, lower, lower + rng.randint(1, 30) * pool.tick_spacing, int(10 ** rng.uniform(19, 22))
        )
        _apply_logs(pool, state, receipt["logs"])
    quoter = v3_devnet.quoter(pool)
    compared = 0
    for _ in range(150):
        zero_for_one, amount, limit = _random_order(rng, state)
        if rng.random() < 0.5:
            limit = 0  # the quoter's "no limit"
        try:
            result = state.swap(zero_for_one, amount, limit or None)
        except SwapRevertError:
            continue
        if amount < 0 and limit == 0 and result.amount_out(zero_for_one) != -amount:
            continue  # the quoter rejects exact-output quotes the pool cannot fill
        quoted = v3_devnet.quote(quoter, pool, zero_for_one, amount, limit)
        simulated_in, simulated_out = result.amount_in(zero_for_one), result.amount_out(zero_for_one)
        if amount > 0:
            assert quoted[1] == simulated_out
        else:
            assert quoted[0] == simulated_in
        compared += 1
    assert compared >= 120
