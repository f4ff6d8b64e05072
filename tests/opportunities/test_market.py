"""ChainMarket (the scanner's pure core) against brute force, odd tokens, gas and block order."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dexes.uniswap_v2.swap_math import get_amount_out
from opportunities.scanner import BlockSyncs, ChainMarket, MarketConfig, ScanPolicy, SyncUpdate, market_scan_blocks
from opportunities.selectors import PoolRow, TokenRow

U = "0x00000000000000000000000000000000000000a1"  # stable
W = "0x00000000000000000000000000000000000000b1"  # wrapped native
A = "0x00000000000000000000000000000000000000c1"
B = "0x00000000000000000000000000000000000000d1"
TOKENS = (U, W, A, B)
SYMBOLS = {U: "USD", W: "WNAT", A: "AAA", B: "BBB"}
CONFIG = MarketConfig(chain_id=56, wrapped_native=W, stable_tokens=(U,), base_tokens=(W, U))
PAIRS = list(itertools.combinations(TOKENS, 2))


def token_rows(decimals: int = 0, **overrides: TokenRow) -> dict[str, TokenRow]:
    rows = {t: TokenRow(t, SYMBOLS[t], decimals, False) for t in TOKENS}
    rows.update(overrides)
    return rows


def pool_row(n: int, token0: str, token1: str, reserve0: int, reserve1: int, fee: int | None = 25) -> PoolRow:
    return PoolRow(n, f"0x{n:040x}", f"dex{fee}", fee, token0, token1, reserve0, reserve1, None)


# --------------------------------------------------------------------------- brute force


def _in_scope(cycle: tuple[tuple[PoolRow, bool], ...]) -> bool:
    if len(cycle) == 2:
        return True
    tokens = {p.token0 for p, _ in cycle} | {p.token1 for p, _ in cycle}
    return len(tokens & {W, U}) >= 2


def _cycles_through(pools: list[PoolRow], target: PoolRow) -> list[tuple[tuple[PoolRow, bool], ...]]:
    """Every simple 2-/3-pool cycle through ``target``, each direction and every rotation."""
    found = []
    for length in (2, 3):
        for combo in itertools.permutations(pools, length):
            if target not in combo or len({p.id for p in combo}) != length:
                continue
            for first_dir in (True, False):
                token = combo[0].token0 if first_dir else combo[0].token1
                start, steps, ok = token, [], True
                for pool in combo:
                    if pool.token0 == token:
                        steps.append((pool, True))
                        token = pool.token1
                    elif pool.token1 == token:
                        steps.append((pool, False))
                        token = pool.token0
                    else:
                        ok = False
                        break
                visited = [s[0].token0 if s[1] else s[0].token1 for s in steps]
                if ok and token == start and len(set(visited)) == length and _in_scope(tuple(steps)):
                    found.append(tuple(steps))
    return found


def _brute_best_profit(steps: tuple[tuple[PoolRow, bool], ...], reserves: dict[int, tuple[int, int]]) -> int:
    hops = []
    for pool, zero_for_one in steps:
        r0, r1 = reserves[pool.id]
        hops.append((r0, r1, pool.fee_bps) if zero_for_one else (r1, r0, pool.fee_bps))
    best = 0
    for x in range(1, hops[-1][1] + 1):  # beyond the last pool's output reserve nothing can profit
        amount = x
        for r_in, r_out, fee in hops:
            amount = get_amount_out(amount, r_in, r_out, fee)
        best = max(best, amount - x)
    return best


def brute_force_best_net(
    market: ChainMarket, pools: list[PoolRow], target: PoolRow, policy: ScanPolicy, base_fee: int
) -> Decimal | None:
    reserves = {p.id: (market.graph.pool(p.address).reserve0, market.graph.pool(p.address).reserve1) for p in pools}
    native_usd = market.prices.native_price_usd()
    best: Decimal | None = None
    for steps in _cycles_through(pools, target):
        start = steps[0][0].token0 if steps[0][1] else steps[0][0].token1
        if market.prices.price_usd(start) is None:
            continue
        profit = _brute_best_profit(steps, reserves)
        if profit <= 0:
            continue
        gas_native = Decimal(policy.gas_units(len(steps)) * policy.gas_price_wei(base_fee)) / Decimal(10**18)
        if gas_native and native_usd is None:
            continue
        net = market.prices.amount_to_usd(start, profit) - gas_native * (native_usd or 0)
        best = net if best is None else max(best, net)
    return best


pool_strategy = st.tuples(
    st.sampled_from(range(len(PAIRS))),
    st.sampled_from((20, 25, 30)),
    st.integers(min_value=60, max_value=1500),
    st.integers(min_value=60, max_value=1500),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(pool_strategy, min_size=2, max_size=6),
    min_profit=st.sampled_from((Decimal(0), Decimal("0.5"), Decimal(3))),
    base_fee=st.sampled_from((0, 10**12, 3 * 10**12)),
)
def test_best_net_cycle_per_changed_pool_matches_brute_force(
    specs: list[tuple[int, int, int, int]], min_profit: Decimal, base_fee: int
) -> None:
    pools = [pool_row(i + 1, *PAIRS[pair], r0, r1, fee) for i, (pair, fee, r0, r1) in enumerate(specs)]
    market = ChainMarket(config=CONFIG, tokens=token_rows(), pools=pools, block_number=9)
    policy = ScanPolicy(min_profit_usd=min_profit, gas_2hop=150_000, gas_3hop=200_000)
    drafts = market.evaluate(
        [p.address for p in pools], block_number=10, block_hash="0xb10", base_fee_wei=base_fee, policy=policy
    )
    by_pool = {d.pool_id: d for d in drafts}
    for pool in pools:
        expected = brute_force_best_net(market, pools, pool, policy, base_fee)
        draft = by_pool.get(pool.id)
        if expected is None or expected < min_profit:
            assert draft is None, (pool, expected, draft)
            continue
        assert draft is not None, (pool, expected)
        assert abs(draft.profit_usd - expected) <= Decimal("1e-12") * max(1, abs(expected))
        # The reported cycle is closed, goes through the pool, and its amounts are the contracts' integers.
        assert draft.pool_address in draft.path_pools
        assert draft.path_tokens[0] == draft.path_tokens[-1] == draft.start_token
        amount = draft.amount_in
        token = draft.start_token
        for address in draft.path_pools:
            p = market.graph.pool(address.lower())
            zero_for_one = p.token0 == token
            r_in, r_out = (p.reserve0, p.reserve1) if zero_for_one else (p.reserve1, p.reserve0)
            amount = get_amount_out(amount, r_in, r_out, p.fee_bps)
            token = p.token1 if zero_for_one else p.token0
        assert amount == draft.amount_out and draft.profit_raw == amount - draft.amount_in > 0
        assert draft.gas_estimate == policy.gas_units(len(draft.path_pools))


def test_opportunity_fields_name_reserves_imbalance_and_gas() -> None:
    pools = [
        pool_row(1, W, U, 1_000, 300_000),  # WNAT at $300: the price pool
        pool_row(2, A, U, 10_000, 10_000),
        pool_row(3, A, U, 10_000, 11_000, fee=30),  # A dearer here: 2-hop A/U cycle
    ]
    market = ChainMarket(config=CONFIG, tokens=token_rows(), pools=pools, block_number=0)
    policy = ScanPolicy(min_profit_usd=Decimal(1), gas_2hop=100_000)
    drafts = market.evaluate([pools[2].address], block_number=1, block_hash="0x01", base_fee_wei=10**10, policy=policy)
    (draft,) = drafts
    assert draft.pool_name == "AAA-USD" and draft.pool_address == pools[2].address
    assert (draft.reserve0, draft.reserve1) == (10_000, 11_000)
    assert draft.imbalance_pct == pytest.approx(10.0)  # 1.1 vs the other pool's 1.0
    assert draft.gas_cost_usd == Decimal("0.3")  # 100k gas x 10 gwei = 0.001 native x $300
    gross = market.prices.amount_to_usd(draft.start_token, draft.profit_raw)
    assert draft.profit_usd == gross - Decimal("0.3")
    assert float(draft.profit_native) == pytest.approx(float(draft.profit_usd / 300))
    assert len(draft.path_pools) == 2 and set(draft.path_pools) == {pools[1].address, pools[2].address}


def test_gas_can_push_a_cycle_below_the_floor() -> None:
    pools = [pool_row(1, W, U, 1_000, 300_000), pool_row(2, A, U, 10**5, 10**5), pool_row(3, A, U, 10**5, 103_000)]
    market = ChainMarket(config=CONFIG, tokens=token_rows(), pools=pools, block_number=0)
    cheap = market.evaluate(
        [pools[2].address], block_number=1, block_hash="0x1", base_fee_wei=0, policy=ScanPolicy(Decimal(1))
    )
    expensive = market.evaluate(
        [pools[2].address], block_number=1, block_hash="0x1", base_fee_wei=10**12, policy=ScanPolicy(Decimal(1))
    )
    assert len(cheap) == 1 and expensive == []


def test_odd_tokens_are_never_traded_through() -> None:
    fot = "0x00000000000000000000000000000000000000e1"
    nodec = "0x00000000000000000000000000000000000000f1"
    tokens = token_rows()
    tokens[fot] = TokenRow(fot, "FOT", 0, True)
    tokens[nodec] = TokenRow(nodec, "", None, False)
    pools = [
        pool_row(1, W, U, 1_000, 300_000),
        # Wildly mispriced pairs of odd tokens: a naive scanner would report them.
        pool_row(2, fot, U, 10_000, 10_000),
        pool_row(3, fot, U, 10_000, 20_000),
        pool_row(4, nodec, U, 10_000, 10_000),
        pool_row(5, nodec, U, 10_000, 20_000),
        pool_row(6, A, U, 10_000, 10_000),
        pool_row(7, A, U, 10_000, 12_000),
        pool_row(8, A, U, 10_000, 12_000, fee=None),  # unknown DEX: no fee known
    ]
    market = ChainMarket(config=CONFIG, tokens=tokens, pools=pools, block_number=0)
    drafts = market.evaluate(
        [p.address for p in pools], block_number=1, block_hash="0x1", base_fee_wei=0, policy=ScanPolicy(Decimal(0))
    )
    assert {d.pool_id for d in drafts} == {6, 7}
    assert all(p.address not in d.path_pools for d in drafts for p in pools[1:5] + pools[7:])
    assert set(market.skipped) == {p.address.lower() for p in (pools[1], pools[2], pools[3], pools[4], pools[7])}


def test_unpriced_start_tokens_and_unpriced_gas_report_nothing() -> None:
    # No stablecoin pool: nothing has a USD price, so no profit in USD can be stated.
    pools = [pool_row(1, A, B, 10_000, 10_000), pool_row(2, A, B, 10_000, 12_000)]
    market = ChainMarket(config=CONFIG, tokens=token_rows(), pools=pools, block_number=0)
    assert (
        market.evaluate(
            [p.address for p in pools], block_number=1, block_hash="0x1", base_fee_wei=0, policy=ScanPolicy(Decimal(0))
        )
        == []
    )
    # A priced, the native coin not: with a base fee, the gas cannot be priced.
    pools = [pool_row(1, A, U, 10_000, 10_000), pool_row(2, A, U, 10_000, 12_000)]
    market = ChainMarket(config=CONFIG, tokens=token_rows(), pools=pools, block_number=0)
    kwargs = {"block_number": 1, "block_hash": "0x1", "policy": ScanPolicy(Decimal(0))}
    assert market.evaluate([pools[1].address], base_fee_wei=10**9, **kwargs) == []
    # Free gas (no base fee, no tip, no floor) needs no native price. A fresh market: this one would price
    # a 0 block at the last non-zero gas price it saw (opportunities.gas).
    market = ChainMarket(config=CONFIG, tokens=token_rows(), pools=pools, block_number=0)
    assert len(market.evaluate([pools[1].address], base_fee_wei=0, **kwargs)) == 1


def test_blocks_are_evaluated_one_by_one_with_their_own_reserves() -> None:
    pools = [pool_row(1, W, U, 1_000, 300_000), pool_row(2, A, U, 10_000, 10_000), pool_row(3, A, U, 10_000, 10_000)]
    market = ChainMarket(config=CONFIG, tokens=token_rows(), pools=pools, block_number=100)
    blocks = [
        BlockSyncs(101, "0x101", 0, (SyncUpdate(pools[2].address, 10_000, 12_000),)),  # imbalance
        BlockSyncs(102, "0x102", 0, ()),  # nothing changed: nothing evaluated
        BlockSyncs(103, "0x103", 0, (SyncUpdate(pools[2].address, 10_000, 10_000),)),  # back in line
        BlockSyncs(104, "0x104", 0, (SyncUpdate(pools[1].address.upper().replace("0X", "0x"), 12_000, 10_000),)),
    ]
    drafts = market_scan_blocks(market, blocks, policy=ScanPolicy(Decimal(1)))
    assert [(d.block_number, d.pool_id, d.reserve0, d.reserve1) for d in drafts] == [
        (101, 3, 10_000, 12_000),
        (104, 2, 12_000, 10_000),
    ]
    assert market.block_number == 104
    with pytest.raises(ValueError, match="does not follow"):
        market_scan_blocks(market, [BlockSyncs(106, "0x106", 0, ())], policy=ScanPolicy(Decimal(1)))


def test_absurd_profits_from_dust_pricing_are_skipped_not_stored() -> None:
    pools = [pool_row(1, W, U, 1_000, 300_000), pool_row(2, A, U, 10, 10**22), pool_row(3, A, U, 20, 10**22)]
    market = ChainMarket(config=CONFIG, tokens=token_rows(), pools=pools, block_number=0)
    assert market.graph.scan([pools[2].address.lower()], token_value={U: 1.0})  # a "profitable" cycle exists
    drafts = market.evaluate(
        [pools[2].address], block_number=1, block_hash="0x1", base_fee_wei=0, policy=ScanPolicy(Decimal(1))
    )
    assert drafts == []
