"""V3 swap simulation speed: µs per exact-input swap crossing 0, 1 and 10 initialized ticks.

A Uniswap-V3-style pool (and an Algebra one) with a position boundary every ``--every``
spaced ticks around the price (realistic density for a busy pool), swaps sized so
that they cross exactly k initialized ticks (checked), each timed many times. Also
times ``best_cycle_input`` on a V3 + V2 two-hop cycle.

``--onchain N`` additionally replays the on-chain exactness check of
tests/dexes/test_v3_onchain.py with N batches of 100 random swaps per pool family
(fresh anvil, genuine bytecode) and prints the counts: every swap equal to the wei.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dexes.algebra.pool import AlgebraPoolState
from dexes.cycles import CycleOptimum, Hop, V2Hop, V3Hop, best_cycle_input
from dexes.uniswap_v3.pool import V3PoolState
from dexes.uniswap_v3.tick_math import get_sqrt_ratio_at_tick


def build_pool(algebra: bool, spacing: int, every: int, ranges: int) -> V3PoolState:
    rng = random.Random(5)
    if algebra:
        state: V3PoolState = AlgebraPoolState(sqrt_price_x96=get_sqrt_ratio_at_tick(5) + 1, tick=5, liquidity=0)
        spacing = state.tick_spacing
    else:
        state = V3PoolState(
            sqrt_price_x96=get_sqrt_ratio_at_tick(5) + 1, tick=5, liquidity=0, fee=500, tick_spacing=spacing
        )
    state.apply_mint(-(887272 // spacing) * spacing, (887272 // spacing) * spacing, 10**20)
    for i in range(1, ranges + 1):
        # nested ranges: a boundary every `every` spacings below and above the price
        state.apply_mint(-i * every * spacing, i * every * spacing, rng.randint(10**18, 10**19))
    return state


def amount_crossing(state: V3PoolState, k: int) -> int:
    """Exact input (token0) that crosses exactly k initialized ticks downward and stops mid-range."""
    below = sorted((t for t in state.ticks if t <= state.tick), reverse=True)
    target_hi = get_sqrt_ratio_at_tick(below[k - 1]) if k else state.sqrt_price_x96
    target_lo = get_sqrt_ratio_at_tick(below[k])
    middle = (target_hi + target_lo) // 2
    result = state.swap(True, 1 << 200, middle)
    return result.amount0


def time_swaps(state: V3PoolState, amount: int, repeat: int) -> tuple[float, int, int]:
    samples = []
    result = state.swap(True, amount)
    for _ in range(repeat):
        start = time.perf_counter_ns()
        state.swap(True, amount)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000, result.ticks_crossed, result.steps


def run_onchain(batches: int) -> None:
    from devnet.anvil import AnvilProcess
    from tests.dexes import test_v3_onchain as check
    from tests.dexes.v3_chain import V3Devnet

    check.BATCHES = batches
    node = AnvilProcess(chain_id=31337, automine=True, extra_args=["--disable-code-size-limit"])
    node.start()
    try:
        net = V3Devnet(node.rpc_url)
        for family, fee in (("uniswap_v3", 500), ("pancakeswap_v3", 100), ("algebra", 0)):
            price = get_sqrt_ratio_at_tick(17) + 99
            pool = (
                net.uniswap_pool(fee, price)
                if family == "uniswap_v3"
                else net.pancake_pool(fee, price)
                if family == "pancakeswap_v3"
                else net.algebra_pool(price)
            )
            started = time.perf_counter()
            stats = check._run_family(net, pool, seed=batches * 7919 + fee)
            stats["fees"] = sorted(stats["fees"])
            print(
                f"on chain {family} fee {fee}: {stats} in {time.perf_counter() - started:.1f} s — all equal to the wei"
            )
    finally:
        node.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--every", type=int, default=1, help="spacings between initialized ticks")
    parser.add_argument("--onchain", type=int, default=0, help="batches of 100 swaps per family on anvil")
    args = parser.parse_args()

    print("| pool | tick spacing | initialized ticks crossed | computeSwapStep calls | µs per swap (median) |")
    print("|---|---|---|---|---|")
    for name, algebra, spacing in (("Uniswap V3", False, 10), ("Uniswap V3", False, 60), ("Algebra", True, 60)):
        state = build_pool(algebra, spacing, args.every, 40)
        for k in (0, 1, 10):
            amount = amount_crossing(state, k)
            micros, crossed, steps = time_swaps(state, amount, args.repeat)
            assert crossed == k, (crossed, k)
            print(f"| {name} | {state.tick_spacing} | {crossed} | {steps} | {micros:.1f} |")

    rng = random.Random(1)
    state = build_pool(False, 10, args.every, 40)
    samples = []
    found: CycleOptimum | None = None
    for _ in range(50):
        skew = 1 + rng.uniform(0.005, 0.03)
        pair = V2Hop("v2", "B", "A", int(10**22 / skew), 10**22, 25)
        hops: list[Hop] = [V3Hop("v3", "A", "B", state, True), pair]
        start = time.perf_counter_ns()
        found = best_cycle_input(hops)
        samples.append(time.perf_counter_ns() - start)
        assert found is not None
    print(
        f"\nbest_cycle_input, V3 + V2 two-hop cycle: {statistics.median(samples) / 1000:.0f} µs median "
        f"({found.evaluations if found else 0} cycle simulations in the last run)"
    )
    if args.onchain:
        run_onchain(args.onchain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
