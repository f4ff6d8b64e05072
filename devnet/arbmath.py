"""Pure V2 arbitrage maths used by the simulator's bots (no I/O).

Integer results use the pair contract's own rounding; the optimum of a cycle
uses the closed form x* = (sqrt(K*M) - M) / N (the standard optimum of a V2 cycle) in floats
and is then checked with exact integer maths.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int:
    """Exactly the pair's formula (10000 scale, integer division)."""
    if amount_in <= 0 or reserve_in <= 0 or reserve_out <= 0:
        return 0
    with_fee = amount_in * (10000 - fee_bps)
    return with_fee * reserve_out // (reserve_in * 10000 + with_fee)


@dataclass(frozen=True)
class PoolInfo:
    address: str
    token0: str
    token1: str
    fee_bps: int
    dex: str = ""


@dataclass(frozen=True)
class Hop:
    pool: str
    token_in: str
    token_out: str
    fee_bps: int
    zero_for_one: bool  # token_in is token0


Cycle = tuple[Hop, ...]
Reserves = Mapping[str, tuple[int, int]]


def hop_reserves(hop: Hop, reserves: Reserves) -> tuple[int, int]:
    r0, r1 = reserves[hop.pool]
    return (r0, r1) if hop.zero_for_one else (r1, r0)


def cycle_amounts(amount_in: int, cycle: Sequence[Hop], reserves: Reserves) -> list[int]:
    """Amounts along the cycle: [in, out_hop1, ..., out_last] (integer maths)."""
    amounts = [amount_in]
    for hop in cycle:
        r_in, r_out = hop_reserves(hop, reserves)
        amounts.append(get_amount_out(amounts[-1], r_in, r_out, hop.fee_bps))
    return amounts


def cycle_profit(amount_in: int, cycle: Sequence[Hop], reserves: Reserves) -> int:
    return cycle_amounts(amount_in, cycle, reserves)[-1] - amount_in


def optimal_input(cycle: Sequence[Hop], reserves: Reserves) -> int:
    """Profit-maximising input (0 if the cycle is not profitable)."""
    k = m = n = 0.0
    for i, hop in enumerate(cycle):
        r_in, r_out = hop_reserves(hop, reserves)
        g = (10000 - hop.fee_bps) / 10000
        if i == 0:
            k, m, n = g * r_out, float(r_in), g
        else:
            k, m, n = k * g * r_out, m * r_in, n * r_in + k * g
    if k <= m or n <= 0:
        return 0
    x = (math.sqrt(k * m) - m) / n
    return max(int(x), 0)


def best_trade(cycle: Sequence[Hop], reserves: Reserves, max_in: int | None = None) -> tuple[int, int]:
    """(amount_in, profit) at the optimum, capped at max_in; (0, 0) if none."""
    x = optimal_input(cycle, reserves)
    if max_in is not None:
        x = min(x, max_in)
    if x <= 0:
        return 0, 0
    profit = cycle_profit(x, cycle, reserves)
    return (x, profit) if profit > 0 else (0, 0)


def enumerate_cycles(pools: Iterable[PoolInfo], start_tokens: Iterable[str], max_hops: int = 4) -> list[Cycle]:
    """Every simple cycle of 2..max_hops distinct pools from each start token.

    Intermediate tokens are not repeated; both directions of a loop are
    listed (they are different trades)."""
    adj: dict[str, list[tuple[PoolInfo, str]]] = {}
    for p in pools:
        adj.setdefault(p.token0, []).append((p, p.token1))
        adj.setdefault(p.token1, []).append((p, p.token0))
    cycles: list[Cycle] = []

    def walk(start: str, token: str, path: list[Hop], seen_tokens: set[str], used: set[str]) -> None:
        for pool, other in adj.get(token, []):
            if pool.address in used:
                continue
            hop = Hop(pool.address, token, other, pool.fee_bps, token == pool.token0)
            if other == start:
                if len(path) + 1 >= 2:
                    cycles.append((*path, hop))
                continue
            if other in seen_tokens or len(path) + 1 >= max_hops:
                continue
            walk(start, other, [*path, hop], seen_tokens | {other}, used | {pool.address})

    for s in start_tokens:
        walk(s, s, [], {s}, set())
    return cycles


def cycle_tokens(cycle: Sequence[Hop]) -> list[str]:
    return [cycle[0].token_in, *(h.token_out for h in cycle)]
