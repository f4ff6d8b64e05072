"""The mixed-cycle search: its figures are the integer simulation's, its optimum the reference's, its bound a bound."""

from __future__ import annotations

import random

import pytest

from dexes.cycles import V2Hop, best_cycle_input, cycle_amount_out
from opportunities.v3cycles import (
    Leg,
    V2Leg,
    V3Curve,
    V3Leg,
    best_mixed_input,
    float_optimum,
    float_trade,
    integer_amount_out,
    mixed_profit_bound,
)
from tests.dexes.test_cycles_mixed import _random_cycle


def _legs(hops: list, window: tuple[int, int] | None = None) -> list[Leg]:
    legs: list[Leg] = []
    for hop in hops:
        if isinstance(hop, V2Hop):
            legs.append(V2Leg(hop.reserve_in, hop.reserve_out, 10_000 - hop.fee_bps))
        else:
            curve = V3Curve(hop.state, window)
            legs.append(V3Leg(hop.state, hop.zero_for_one, curve, curve.limit(hop.zero_for_one)))
    return legs


@pytest.mark.parametrize("scale", [10**12, 10**18])
def test_reported_amounts_are_the_integer_simulation_and_the_profit_matches_the_reference(scale: int) -> None:
    rng = random.Random(scale % 97)
    checked = 0
    for _ in range(25):
        hops = _random_cycle(rng, scale)
        found = best_mixed_input(_legs(hops))
        reference = best_cycle_input(hops)  # doubling + golden section + exact plateau enumeration
        if reference is None:
            assert found is None
            continue
        assert found is not None
        amount_in, amount_out = found
        assert amount_out == cycle_amount_out(hops, amount_in)  # the contracts' own math, hop by hop
        # Within the hops' rounding of the exact integer optimum.
        assert reference.profit - (amount_out - amount_in) <= max(2, reference.profit // 10**7)
        checked += 1
    assert checked >= 10


def test_the_bound_is_never_below_any_integer_profit() -> None:
    rng = random.Random(5)
    for _ in range(25):
        hops = _random_cycle(rng, 10**15)
        legs = _legs(hops)
        bound = mixed_profit_bound(legs)
        optimum = float_optimum(legs)
        if optimum is None:
            continue
        for factor in (0.25, 0.5, 1.0, 1.5, 3.0):
            x = max(1, int(optimum.amount_in * factor))
            assert integer_amount_out(legs, x) - x <= bound * (1 + 1e-9)


def test_the_float_model_tracks_the_integer_simulation_across_ticks() -> None:
    rng = random.Random(8)
    for _ in range(20):
        hops = _random_cycle(rng, 10**18)
        legs = _legs(hops)
        for x in (10**15, 10**17, 10**19):
            exact = integer_amount_out(legs, x)
            model, _ = float_trade(legs, float(x))
            if exact:
                assert abs(model - exact) <= 1e-6 * exact


def test_a_state_with_a_known_tick_range_is_never_simulated_past_it() -> None:
    rng = random.Random(13)
    hops = _random_cycle(rng, 10**18)
    pool = next(h for h in hops if not isinstance(h, V2Hop))
    tick = pool.state.tick
    window = (tick - 20, tick + 20)  # far narrower than the pool's positions
    narrow = _legs([pool], window)[0]
    wide = _legs([pool])[0]
    assert isinstance(narrow, V3Leg) and isinstance(wide, V3Leg)
    small = 10**12
    assert integer_amount_out([narrow], small) == integer_amount_out([wide], small) > 0
    # An input the pool absorbs whole, moving its price past the known range.
    large = next(
        x
        for x in (10**k for k in range(14, 30))
        if not window[0] <= pool.state.swap(pool.zero_for_one, x).tick <= window[1]
    )
    assert integer_amount_out([wide], large) > 0
    assert integer_amount_out([narrow], large) == 0  # would cross the edge of what is known: no figure
