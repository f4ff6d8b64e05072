"""Benchmark: PoolGraph.scan cost per block vs tracked and changed pools.

Synthetic but shaped like BSC: a few hundred tokens, four base tokens (WBNB,
USDT, BUSD, USDC), most tokens paired with one or more bases, the rest random
pairs; each pair on 1–3 DEXes (25/20/20 bps); reserves from a "true" USD
price per token with ±0.6% noise per pool, so some cycles are profitable.
Each block moves the reserves of the changed pools (a random swap) and scans
them with token values (USD per raw unit), as the scanner will.

    .venv/bin/python bench/scan_pools_math.py [--blocks 15] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthetic_pairs import random_pairs

from opportunities.cycles import Pool, PoolGraph

BASES = ("WBNB", "USDT", "BUSD", "USDC")
DEXES = (("pancake", 25), ("biswap", 20), ("ape", 20))
E18 = 10**18
# profile: (price noise between pools of a pair, max trade as a share of reserves)
PROFILES = {"stressed": (0.006, 0.02), "calm": (0.0005, 0.003)}


def build(pool_count: int, token_count: int, rng: random.Random, noise: float) -> tuple[PoolGraph, dict[str, float]]:
    prices = {"WBNB": 600.0, "USDT": 1.0, "BUSD": 1.0, "USDC": 1.0}
    tokens = [f"T{i:04d}" for i in range(token_count)]
    for token in tokens:
        prices[token] = 10 ** rng.uniform(-4, 3)
    pairs = random_pairs(rng, BASES, tokens)
    pools: list[Pool] = []
    all_tokens = tokens + list(BASES)
    pair_index = 0
    while len(pools) < pool_count:
        if pair_index >= len(pairs):
            pairs.add(rng.choice(all_tokens), rng.choice(all_tokens))
            if pair_index >= len(pairs):
                continue
        a, b = pairs[pair_index]
        pair_index += 1
        for dex, fee in rng.sample(DEXES, rng.choice((1, 2, 2, 3))):
            if len(pools) >= pool_count:
                break
            liquidity_usd = 10 ** rng.uniform(3, 7)
            reserve_a = int(liquidity_usd / prices[a] * E18 * (1 + rng.uniform(-noise, noise)))
            reserve_b = int(liquidity_usd / prices[b] * E18)
            pools.append(Pool(f"0x{len(pools):040x}", dex, a, b, max(reserve_a, 1000), max(reserve_b, 1000), fee))
    graph = PoolGraph.from_pools(pools, BASES)
    token_value = {token: price / E18 for token, price in prices.items()}
    return graph, token_value


def run(
    profile: str, pool_count: int, token_count: int, changed_counts: list[int], blocks: int, seed: int
) -> list[str]:
    noise, trade_size = PROFILES[profile]
    rng = random.Random(seed)
    graph, token_value = build(pool_count, token_count, rng, noise)
    addresses = [f"0x{i:040x}" for i in range(pool_count)]
    lines = []
    for changed_count in changed_counts:
        if changed_count > pool_count:
            continue
        timings, found = [], []
        for _ in range(blocks):
            changed = rng.sample(addresses, changed_count)
            for address in changed:
                pool = graph.pool(address)
                trade = rng.uniform(-trade_size, trade_size)
                reserve0 = int(pool.reserve0 * (1 + trade))
                reserve1 = pool.reserve0 * pool.reserve1 // reserve0
                graph.update_reserves(address, reserve0, reserve1)
            started = time.perf_counter()
            results = graph.scan(changed, token_value=token_value)
            timings.append((time.perf_counter() - started) * 1000)
            found.append(len(results))
        lines.append(
            f"| {profile} | {pool_count:,} | {token_count} | {changed_count} | {statistics.median(timings):.1f} | "
            f"{max(timings):.1f} | {statistics.mean(found):.0f} |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| profile | tracked pools | tokens | changed pools | median ms/block | max ms/block | pools with a cycle |")
    print("|---|---|---|---|---|---|---|")
    for profile in PROFILES:
        for pool_count, token_count in ((1_000, 300), (10_000, 400), (50_000, 800)):
            run(profile, pool_count, token_count, [20, 200, 1000], args.blocks, args.seed)


if __name__ == "__main__":
    main()
