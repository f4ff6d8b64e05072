"""The bots' pure maths: contract rounding and the closed-form optimum."""

from __future__ import annotations

from devnet.arbmath import Hop, PoolInfo, cycle_profit, enumerate_cycles, get_amount_out, optimal_input


def test_amount_out_uses_the_10000_scale_and_floors() -> None:
    # 1000 in, 25 bps, 1:1 reserves of 1e6 -> 997500*1e6 // (1e10 + 997500*1000)... as the pair does
    assert get_amount_out(1000, 10**6, 10**6, 25) == 1000 * 9975 * 10**6 // (10**6 * 10000 + 1000 * 9975)
    assert get_amount_out(0, 10, 10, 25) == 0


def test_closed_form_optimum_beats_its_neighbours() -> None:
    reserves = {"A": (10**21, 2 * 10**21), "B": (19 * 10**20, 10**21)}
    cycle = (Hop("A", "x", "y", 25, True), Hop("B", "y", "x", 10, True))
    best = optimal_input(cycle, reserves)
    assert best > 0
    p = cycle_profit(best, cycle, reserves)
    assert p > 0
    assert p >= cycle_profit(best * 95 // 100, cycle, reserves)
    assert p >= cycle_profit(best * 105 // 100, cycle, reserves)


def test_enumerate_cycles_finds_cross_dex_and_triangles() -> None:
    pools = [
        PoolInfo("P1", "a", "b", 25),
        PoolInfo("P2", "a", "b", 10),
        PoolInfo("P3", "b", "c", 25),
        PoolInfo("P4", "a", "c", 25),
    ]
    cycles = enumerate_cycles(pools, ["a"], 4)
    shapes = {tuple(h.pool for h in c) for c in cycles}
    assert ("P1", "P2") in shapes and ("P2", "P1") in shapes
    assert ("P1", "P3", "P4") in shapes and ("P4", "P3", "P2") in shapes
    assert all(c[0].token_in == "a" and c[-1].token_out == "a" for c in cycles)
