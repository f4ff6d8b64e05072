from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dexes.uniswap_v2.swap_math import get_amount_out
from opportunities.cycles import (
    Cycle,
    Hop,
    Pool,
    PoolGraph,
    best_cycle_input,
    cycle_composition,
    imbalance_pct,
    profit_upper_bound,
    simulate_cycle,
)

FEES = [0, 10, 20, 25, 30, 100]
TOKENS = "ABCDEFGH"


def make_cycle(legs: list[tuple[int, int, int]]) -> Cycle:
    """A cycle A→B→…→A from (reserve_in, reserve_out, fee_bps) per hop."""
    n = len(legs)
    tokens = [TOKENS[i] for i in range(n)]
    return Cycle(
        tuple(
            Hop(f"pool{i}", tokens[i], tokens[(i + 1) % n], r_in, r_out, fee)
            for i, (r_in, r_out, fee) in enumerate(legs)
        )
    )


def brute_force_best_profit(cycle: Cycle) -> int:
    # Profit needs output > input, and output < last hop's reserve_out: scan all of that.
    limit = cycle.hops[-1].reserve_out
    return max((simulate_cycle(cycle, x) - x for x in range(1, limit + 1)), default=0)


def leg_strategy(max_reserve: int) -> st.SearchStrategy[tuple[int, int, int]]:
    return st.tuples(
        st.integers(min_value=2, max_value=max_reserve),
        st.integers(min_value=2, max_value=max_reserve),
        st.sampled_from(FEES),
    )


@settings(max_examples=300, deadline=None)
@given(
    legs=st.integers(min_value=2, max_value=4).flatmap(lambda n: st.lists(leg_strategy(1500), min_size=n, max_size=n))
)
@example(legs=[(2, 2, 0), (2, 1418, 0)])  # dust pools: rounding moves the optimum far from x*
def test_refined_optimum_equals_brute_force_on_small_pools(legs: list[tuple[int, int, int]]) -> None:
    cycle = make_cycle(legs)
    expected = brute_force_best_profit(cycle)
    result = best_cycle_input(cycle)
    if expected <= 0:
        assert result is None
    else:
        assert result is not None
        assert result.profit == expected
        assert result.amount_out == simulate_cycle(cycle, result.amount_in)
        assert result.profit == result.amount_out - result.amount_in


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=4),
    base=st.integers(min_value=10**18, max_value=10**26),
    skews=st.lists(st.integers(min_value=-300, max_value=300), min_size=4, max_size=4),
    fees=st.lists(st.sampled_from(FEES), min_size=4, max_size=4),
)
def test_big_reserves_reach_the_continuous_optimum_within_rounding(
    n: int, base: int, skews: list[int], fees: list[int]
) -> None:
    # Similar-value tokens (slopes ~1), prices skewed by up to ±3% per hop.
    legs = [(base, base * (10000 + skews[i]) // 10000, fees[i]) for i in range(n)]
    cycle = make_cycle(legs)
    k, m, n_ = cycle_composition(cycle)
    result = best_cycle_input(cycle)
    bound = profit_upper_bound(k, m, n_)
    rounding = n + 2  # each hop loses < 1 raw unit, propagated with slope ~1
    if k <= m or bound <= rounding:
        if result is not None:
            assert 0 < result.profit <= bound
        return
    assert result is not None
    assert bound - rounding <= result.profit <= bound
    assert result.amount_out == simulate_cycle(cycle, result.amount_in)
    # No point of a linear scan around x*, nor a ternary search, does better by more than rounding.
    x_star = (math.isqrt(k * m) - m) // n_
    scan_best = max(simulate_cycle(cycle, x) - x for x in range(max(1, x_star - 500), x_star + 500))
    assert result.profit >= scan_best - rounding
    low, high = 1, cycle.hops[-1].reserve_out
    while high - low > 2:
        a, b = low + (high - low) // 3, high - (high - low) // 3
        if simulate_cycle(cycle, a) - a < simulate_cycle(cycle, b) - b:
            low = a
        else:
            high = b
    ternary_best = max(simulate_cycle(cycle, x) - x for x in range(low, high + 1))
    assert result.profit >= ternary_best - rounding


@given(legs=st.lists(leg_strategy(10**30), min_size=2, max_size=5), amount=st.integers(min_value=0, max_value=10**28))
def test_simulation_applies_the_formula_hop_by_hop(legs: list[tuple[int, int, int]], amount: int) -> None:
    cycle = make_cycle(legs)
    expected = amount
    for r_in, r_out, fee in legs:
        expected = get_amount_out(expected, r_in, r_out, fee)
    assert simulate_cycle(cycle, amount) == expected


@given(legs=st.lists(leg_strategy(10**12), min_size=2, max_size=4), x=st.integers(min_value=1, max_value=10**12))
def test_composition_is_the_real_valued_cycle(legs: list[tuple[int, int, int]], x: int) -> None:
    cycle = make_cycle(legs)
    k, m, n = cycle_composition(cycle)
    value = Fraction(x)
    for r_in, r_out, fee in legs:
        gamma = Fraction(10000 - fee, 10000)
        value = gamma * value * r_out / (r_in + gamma * value)
    assert Fraction(k * x, m + n * x) == value
    assert simulate_cycle(cycle, x) <= value  # integer rounding only ever loses


def test_balanced_pools_are_not_profitable() -> None:
    cycle = make_cycle([(10**21, 10**21, 25), (10**21, 10**21, 25)])
    assert best_cycle_input(cycle) is None


def test_known_two_pool_arbitrage() -> None:
    # Pool 1 sells B cheap (1 A → 2 B), pool 2 buys B dear (1 B → 0.6 A): buy on 1, sell on 2.
    cycle = make_cycle([(1000 * 10**18, 2000 * 10**18, 30), (2000 * 10**18, 1200 * 10**18, 25)])
    result = best_cycle_input(cycle)
    assert result is not None
    assert result.profit > 0
    assert result.cycle.tokens == ("A", "B", "A")
    assert result.cycle.pools == ("pool0", "pool1")
    for delta in (-(10**15), 10**15):
        x = result.amount_in + delta
        assert simulate_cycle(cycle, x) - x <= result.profit


def test_cycle_must_close() -> None:
    with pytest.raises(ValueError):
        Cycle((Hop("p", "A", "B", 1, 1, 30), Hop("q", "B", "C", 1, 1, 30)))
    with pytest.raises(ValueError):
        Hop("p", "A", "B", 0, 1, 30)


# --------------------------------------------------------------------------- graph

E18 = 10**18


def pool(address: str, dex: str, t0: str, t1: str, r0: int, r1: int, fee: int = 30) -> Pool:
    return Pool(address, dex, t0, t1, r0, r1, fee)


def graph_with_mispriced_pair() -> PoolGraph:
    # X priced at 2 WBNB on pancake, 2.2 on ape; a USDT triangle balanced with pancake.
    return PoolGraph.from_pools(
        [
            pool("p1", "pancake", "X", "WBNB", 1000 * E18, 2000 * E18, 25),
            pool("p2", "ape", "X", "WBNB", 1000 * E18, 2200 * E18, 20),
            pool("p3", "pancake", "WBNB", "USDT", 1000 * E18, 300_000 * E18, 25),
            pool("p4", "pancake", "X", "USDT", 1000 * E18, 600_000 * E18, 25),
            pool("p5", "pancake", "Y", "Z", 10 * E18, 10 * E18, 25),
        ],
        base_tokens=["WBNB", "USDT"],
    )


def brute_force_graph_best(graph: PoolGraph, address: str) -> int:
    """Profit of the best cycle through a pool by the scan's unvalued ranking, evaluated one by one.

    Start at WBNB, else USDT, else hop 0; a higher-priority start token outranks a bigger profit.
    """
    priority = {"WBNB": 0, "USDT": 1}
    best: tuple[int, int] = (-99, 0)
    for path in graph.cycle_paths(address):
        hops = graph.path_cycle(path).hops
        index = min(range(len(hops)), key=lambda i: (priority.get(hops[i].token_in, 2), i))
        result = best_cycle_input(Cycle(hops[index:] + hops[:index]))
        if result is not None:
            best = max(best, (-priority.get(hops[index].token_in, 2), result.profit))
    return best[1]


def test_graph_finds_two_hop_and_triangle_cycles() -> None:
    graph = graph_with_mispriced_pair()
    paths = graph.cycle_paths("p1")
    pools_used = {tuple(sorted(address for address, _ in path)) for path in paths}
    assert ("p1", "p2") in pools_used  # same pair, other DEX
    assert ("p1", "p3", "p4") in pools_used  # X/WBNB/USDT triangle
    assert len(paths) == 4  # each in both directions
    assert graph.cycle_paths("p5") == []


def test_scan_returns_best_cycle_per_changed_pool() -> None:
    graph = graph_with_mispriced_pair()
    results = graph.scan(["p1", "p5"])
    assert set(results) == {"p1"}
    result = results["p1"]
    assert result.cycle.start_token == "WBNB"  # highest-priority base token
    assert result.profit == brute_force_graph_best(graph, "p1")
    assert result.amount_out == simulate_cycle(result.cycle, result.amount_in)
    assert "p1" in result.cycle.pools


def test_scan_follows_reserve_updates() -> None:
    graph = graph_with_mispriced_pair()
    graph.update_reserves("p2", 1000 * E18, 2000 * E18)  # ape back in line with pancake
    graph.update_reserves("p4", 1000 * E18, 600_000 * E18)
    assert graph.scan(["p1", "p2"]) == {}


def test_scan_ranks_by_token_value_when_given() -> None:
    graph = graph_with_mispriced_pair()
    values = {"WBNB": 300.0, "USDT": 1.0, "X": 600.0}
    results = graph.scan(["p2"], token_value=values)
    best = results["p2"]
    # whichever start token wins, no other rotation of any cycle through p2 beats it in value
    best_value = best.profit * values[best.cycle.start_token]
    for path in graph.cycle_paths("p2"):
        hops = graph.path_cycle(path).hops
        for i in range(len(hops)):
            result = best_cycle_input(Cycle(hops[i:] + hops[:i]))
            if result is not None:
                assert result.profit * values[result.cycle.start_token] <= best_value * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(
    reserves=st.lists(st.integers(min_value=500, max_value=3000), min_size=10, max_size=10),
    fees=st.lists(st.sampled_from([20, 25, 30]), min_size=5, max_size=5),
)
def test_scan_matches_exhaustive_evaluation_on_small_graphs(reserves: list[int], fees: list[int]) -> None:
    r = reserves
    graph = PoolGraph.from_pools(
        [
            pool("a", "d1", "X", "WBNB", r[0], r[1], fees[0]),
            pool("b", "d2", "WBNB", "X", r[2], r[3], fees[1]),
            pool("c", "d1", "WBNB", "USDT", r[4], r[5], fees[2]),
            pool("d", "d1", "USDT", "X", r[6], r[7], fees[3]),
            pool("e", "d2", "X", "USDT", r[8], r[9], fees[4]),
        ],
        base_tokens=["WBNB", "USDT"],
    )
    results = graph.scan(["a", "b", "c", "d", "e"])
    for address in "abcde":
        expected = brute_force_graph_best(graph, address)
        if expected == 0:
            assert address not in results
        else:
            assert results[address].profit == expected


# --------------------------------------------------------------------------- imbalance


def test_imbalance_against_other_pools_of_the_pair() -> None:
    graph = graph_with_mispriced_pair()
    # p1 price 2 WBNB/X vs p2 2.2: (2 / 2.2 − 1) · 100
    assert imbalance_pct("p1", graph) == pytest.approx((2 / 2.2 - 1) * 100)
    assert imbalance_pct("p2", graph) == pytest.approx((2.2 / 2 - 1) * 100)


def test_imbalance_weights_other_pools_by_quote_liquidity() -> None:
    graph = PoolGraph.from_pools(
        [
            pool("p", "d1", "X", "Y", 100, 100),
            pool("q", "d2", "X", "Y", 100, 200),  # price 2, weight 200
            pool("r", "d3", "Y", "X", 300, 100),  # price of X 3 Y, weight 300
        ],
        base_tokens=[],
    )
    reference = (2 * 200 + 3 * 300) / 500
    assert imbalance_pct("p", graph) == pytest.approx((1 / reference - 1) * 100)


def test_imbalance_falls_back_to_path_through_base_tokens() -> None:
    graph = PoolGraph.from_pools(
        [
            pool("xy", "d1", "X", "Y", 100 * E18, 330 * E18),
            pool("xw", "d1", "X", "WBNB", 100 * E18, 200 * E18),
            pool("wy", "d1", "WBNB", "Y", 200 * E18, 600 * E18),
            pool("wy_small", "d2", "WBNB", "Y", 2 * E18, 9 * E18),  # shallower: ignored
        ],
        base_tokens=["WBNB"],
    )
    # the pool says 3.3 Y per X; through WBNB (deepest legs): 2 WBNB/X · 3 Y/WBNB = 6
    assert imbalance_pct("xy", graph) == pytest.approx((3.3 / 6 - 1) * 100)


def test_imbalance_none_without_reference() -> None:
    graph = graph_with_mispriced_pair()
    assert imbalance_pct("p5", graph) is None
