"""Mixed V2/V3 cycles: exact output hop by hop, and the searched optimum equals brute force."""

from __future__ import annotations

import random

import pytest

from dexes.algebra.pool import AlgebraPoolState
from dexes.cycles import V2Hop, V3Hop, best_cycle_input, check_cycle, cycle_amount_out, rounding_noise
from dexes.uniswap_v3.pool import V3PoolState
from dexes.uniswap_v3.tick_math import get_sqrt_ratio_at_tick

A, B, C = "0xA", "0xB", "0xC"  # token names; A < B < C as pool token order


def _v3_pool(rng: random.Random, tick: int, spacing: int, liquidity: int, algebra: bool = False) -> V3PoolState:
    """A pool around ``tick`` with a wide base range and narrower ranges of up to 10x ``liquidity``."""
    price = get_sqrt_ratio_at_tick(tick) + rng.randint(0, 10**6)
    if algebra:
        state: V3PoolState = AlgebraPoolState(sqrt_price_x96=price, tick=tick, liquidity=0, fee=rng.choice([100, 2800]))
        spacing = state.tick_spacing
    else:
        state = V3PoolState(
            sqrt_price_x96=price, tick=tick, liquidity=0, fee=rng.choice([100, 500, 3000]), tick_spacing=spacing
        )
    base = (4000 // spacing) * spacing
    state.apply_mint(-base, base, liquidity)
    for _ in range(6):
        lower = (tick // spacing - rng.randint(0, 300 // spacing + 1)) * spacing
        upper = (tick // spacing + rng.randint(1, 300 // spacing + 1)) * spacing
        state.apply_mint(lower, upper, rng.randint(liquidity, 10 * liquidity))
    return state


def _brute_force(hops: list, upper: int) -> tuple[int, int] | None:
    best = max(range(1, upper + 1), key=lambda x: (cycle_amount_out(hops, x) - x, -x))
    profit = cycle_amount_out(hops, best) - best
    return (best, profit) if profit > 0 else None


def _random_cycle(rng: random.Random, scale: int) -> list:
    """A->B through a V3 pool (token0 -> token1), back to A through a V2 pair priced a little
    off, or via a second V3 pool B->C then a V2 pair C->A (a triangle)."""
    tick = rng.randint(-300, 300)
    pool_ab = _v3_pool(rng, tick, rng.choice([1, 10, 60]), 40 * scale, algebra=rng.random() < 0.3)
    price = 1.0001**tick
    skew = 1 + rng.uniform(0.005, 0.03)
    reserve_a = rng.randint(2 * scale, 5 * scale)
    if rng.random() < 0.5:
        pair = V2Hop("v2-ba", B, A, int(reserve_a * price / skew), reserve_a, rng.choice([25, 30]))
        return [V3Hop("v3-ab", A, B, pool_ab, True), pair]
    pool_bc = _v3_pool(rng, 0, 10, 400 * scale)
    pair = V2Hop("v2-ca", C, A, int(reserve_a * price / skew), reserve_a, 30)
    return [V3Hop("v3-ab", A, B, pool_ab, True), V3Hop("v3-bc", B, C, pool_bc, True), pair]


def test_cycle_output_is_each_hops_exact_output_in_turn() -> None:
    rng = random.Random(3)
    hops = _random_cycle(rng, 10**6)
    amount = 12345
    step = amount
    for hop in hops:
        step = -hop.state.swap(hop.zero_for_one, step).amount1 if isinstance(hop, V3Hop) else hop.amount_out(step)
    assert cycle_amount_out(hops, amount) == step > 0


def test_broken_cycles_are_rejected() -> None:
    state = V3PoolState(sqrt_price_x96=1 << 96, tick=0, liquidity=0, fee=500, tick_spacing=10)
    with pytest.raises(ValueError):
        check_cycle([V3Hop("p", A, B, state, True), V2Hop("q", C, A, 10, 10, 30)])


def test_best_input_against_brute_force_on_small_pools() -> None:
    # Pools small enough that every input up to well past the optimum can be simulated. At
    # this scale the profit (a few to ~50 units) is of the order of the rounding noise, the
    # hardest case for a search: it must find the optimum or come within the hops' rounding.
    profitable = matched = 0
    for seed in range(20):
        rng = random.Random(seed)
        hops = _random_cycle(rng, scale=10**5)
        found = best_cycle_input(hops)
        expected = _brute_force(hops, 6000)
        if expected is None:
            assert found is None, seed
            continue
        profitable += 1
        assert found is not None, seed
        assert found.amount_out == cycle_amount_out(hops, found.amount_in)  # figures are simulations
        assert found.profit == found.amount_out - found.amount_in
        assert expected[1] - len(hops) <= found.profit <= expected[1], seed
        if found.exact:
            assert (found.amount_in, found.profit) == expected, seed
        matched += found.profit == expected[1]
    assert profitable >= 10
    assert matched >= profitable // 3


def test_large_pools_search_is_cheap_and_locally_optimal() -> None:
    rng = random.Random(99)
    found_any = 0
    for _ in range(10):
        hops = _random_cycle(rng, scale=10**21)
        found = best_cycle_input(hops)
        if found is None:
            continue
        found_any += 1
        assert found.evaluations < 600
        # Deep pools: the top is a plateau of rounding noise millions of units wide; nothing
        # nearby beats the result by more than that noise, and far away everything is worse.
        noise = rounding_noise(hops, found.amount_in)
        for delta in range(-200, 201):
            x = found.amount_in + delta
            assert cycle_amount_out(hops, x) - x <= found.profit + noise
        for factor in (0.5, 0.9, 1.1, 2):
            x = int(found.amount_in * factor)
            assert cycle_amount_out(hops, x) - x < found.profit
    assert found_any >= 5


def test_unprofitable_cycle_reports_nothing() -> None:
    state = V3PoolState(sqrt_price_x96=1 << 96, tick=0, liquidity=0, fee=3000, tick_spacing=60)
    state.apply_mint(-600, 600, 10**24)
    hops = [V3Hop("p", A, B, state, True), V2Hop("q", B, A, 10**24, 10**24, 30)]
    assert best_cycle_input(hops) is None
