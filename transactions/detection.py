"""Executed-arbitrage detection from the V2 ``Swap`` logs of one transaction. Pure.

A leg is one Swap log reduced to a direction: the pool's net intake of one token
(``token_in``/``amount_in``) against its net payout of the other. Arbitrages
are closed chains of ≥ 2 legs on distinct pools where each leg's output token
is the next leg's input token with matching amount (exactly, or within a
relative tolerance for bots that route through their own contract and for
fee-on-transfer tokens), and the last output token is the first input token.

Decisions:

* Legs are chained by token flow and amounts, never by log order: a flash swap
  logs the first pair's Swap last. The start leg is the one after the weakest
  link (the closing link, where the profit is taken, normally does not match),
  so legs are reported in economic order.
* A pool may appear once per arbitrage. A swap and its reverse on the same pool
  (A→B then B→A on P) is a wash and is not reported; mev-inspect does the same.
* A Swap with net intake of both tokens, or payout of both, or nothing, has no
  direction (a flash loan repaid in kind, a donation) and is ignored.
* Several arbitrages per transaction: candidate cycles are ranked (fewest
  inexact links, smallest total mismatch, shortest, earliest) and chosen
  greedily so each leg belongs to at most one.
* Bounded: edges cost O(n²) for n legs (n capped at ``max_legs``); the cycle
  search expands at most max(64·n, ``max_expansions``) partial paths of at most
  ``max_hops`` legs, so wash swaps or hundreds of legs cannot loop or explode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_TOLERANCE = 0.01
DEFAULT_MAX_HOPS = 8
DEFAULT_MAX_LEGS = 256
DEFAULT_MAX_EXPANSIONS = 50_000


@dataclass(frozen=True, slots=True)
class SwapLeg:
    """One V2 ``Swap`` log with the pool's tokens already resolved."""

    log_index: int
    pool: str
    token0: str
    token1: str
    amount0_in: int
    amount1_in: int
    amount0_out: int
    amount1_out: int
    sender: str
    to: str

    @property
    def direction(self) -> tuple[str, int, str, int] | None:
        """(token_in, amount_in, token_out, amount_out), netted per token; None if no direction."""
        net0 = self.amount0_in - self.amount0_out
        net1 = self.amount1_in - self.amount1_out
        if net0 > 0 and net1 < 0:
            return self.token0, net0, self.token1, -net1
        if net1 > 0 and net0 < 0:
            return self.token1, net1, self.token0, -net0
        return None

    @property
    def token_in(self) -> str | None:
        d = self.direction
        return d[0] if d else None

    @property
    def amount_in(self) -> int:
        d = self.direction
        return d[1] if d else 0

    @property
    def token_out(self) -> str | None:
        d = self.direction
        return d[2] if d else None

    @property
    def amount_out(self) -> int:
        d = self.direction
        return d[3] if d else 0


@dataclass(frozen=True, slots=True)
class DetectedArbitrage:
    """A closed cycle of swaps in one transaction; amounts in raw units of the start token."""

    legs: tuple[SwapLeg, ...]
    start_token: str
    start_amount: int
    end_amount: int
    profit: int
    pools: tuple[str, ...]
    tokens: tuple[str, ...]
    swap_count: int
    strategy: str


@dataclass(frozen=True, slots=True)
class _Leg:
    index: int  # position in the input list
    pool: str
    token_in: str
    amount_in: int
    token_out: str
    amount_out: int


def _mismatch(amount_out: int, amount_in: int) -> float:
    """Relative difference between what one leg paid out and what the next received."""
    if amount_out == amount_in:
        return 0.0
    return abs(amount_out - amount_in) / max(amount_out, amount_in)


def detect_arbitrages(
    swaps: Sequence[SwapLeg],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    max_hops: int = DEFAULT_MAX_HOPS,
    max_legs: int = DEFAULT_MAX_LEGS,
    max_expansions: int = DEFAULT_MAX_EXPANSIONS,
) -> list[DetectedArbitrage]:
    """All arbitrages in one transaction's Swap legs (log order), ordered by their first log.

    Complexity: O(n²) to link n ≤ ``max_legs`` legs, then a depth-first search
    over linked legs bounded by max(64·n, ``max_expansions``) steps and
    ``max_hops`` depth,
    then O(c log c) to choose among c candidate cycles.
    """
    legs: list[_Leg] = []
    for position, swap in enumerate(swaps[:max_legs]):
        direction = swap.direction
        if direction is not None:
            legs.append(_Leg(position, swap.pool, *direction))

    # links[i] = [(mismatch, j)]: leg i's output feeds leg j's input, within tolerance.
    links: list[list[tuple[float, int]]] = [[] for _ in legs]
    for i, leg in enumerate(legs):
        for j, following in enumerate(legs):
            if i != j and leg.token_out == following.token_in and leg.pool != following.pool:
                mismatch = _mismatch(leg.amount_out, following.amount_in)
                if mismatch <= tolerance:
                    links[i].append((mismatch, j))
        links[i].sort()  # exact links first

    candidates: dict[frozenset[int], tuple[tuple[float, ...], tuple[int, ...]]] = {}
    # A budget per start leg, so a burst of wash swaps early in the transaction
    # cannot starve an arbitrage logged after it.
    budget_per_start = max(64, max_expansions // max(1, len(legs)))
    for start in range(len(legs)):
        start_token = legs[start].token_in
        budget = budget_per_start
        # Iterative DFS over (path of leg positions, pools used).
        stack: list[tuple[tuple[int, ...], frozenset[str]]] = [((start,), frozenset((legs[start].pool,)))]
        while stack and budget > 0:
            path, pools_used = stack.pop()
            budget -= 1
            if len(path) >= 2 and legs[path[-1]].token_out == start_token:
                _add_candidate(candidates, legs, path)
            if len(path) >= max_hops:
                continue
            # pushed in reverse so the best (exact) link is explored first
            for _, j in reversed(links[path[-1]]):
                if j not in path and legs[j].pool not in pools_used:
                    stack.append(((*path, j), pools_used | {legs[j].pool}))

    chosen: list[tuple[int, ...]] = []
    used: set[int] = set()
    for _, path in sorted(candidates.values()):
        if used.isdisjoint(path):
            used.update(path)
            chosen.append(path)
    arbitrages = [_build(swaps, legs, path) for path in chosen]
    arbitrages.sort(key=lambda arb: min(leg.log_index for leg in arb.legs))
    return arbitrages


def _add_candidate(
    candidates: dict[frozenset[int], tuple[tuple[float, ...], tuple[int, ...]]],
    legs: list[_Leg],
    path: tuple[int, ...],
) -> None:
    """Rotate a closed path so it starts after its weakest link; keep the best version per leg set."""
    size = len(path)
    # gap[i] = mismatch of the link INTO path[i] (from path[i-1]); the closing link is a free gap.
    gaps = [_mismatch(legs[path[i - 1]].amount_out, legs[path[i]].amount_in) for i in range(size)]
    start = max(range(size), key=lambda i: (gaps[i], -i if i else 1))
    rotated = path[start:] + path[:start]
    internal = [gaps[(start + k) % size] for k in range(1, size)]
    inexact = sum(1 for g in internal if g > 0)
    rank = (float(inexact), sum(internal), float(size), float(min(legs[i].index for i in path)))
    key = frozenset(path)
    if key not in candidates or rank < candidates[key][0]:
        candidates[key] = (rank, rotated)


def _build(swaps: Sequence[SwapLeg], legs: list[_Leg], path: tuple[int, ...]) -> DetectedArbitrage:
    ordered = [legs[i] for i in path]
    first, last = ordered[0], ordered[-1]
    return DetectedArbitrage(
        legs=tuple(swaps[leg.index] for leg in ordered),
        start_token=first.token_in,
        start_amount=first.amount_in,
        end_amount=last.amount_out,
        profit=last.amount_out - first.amount_in,
        pools=tuple(leg.pool for leg in ordered),
        tokens=(first.token_in, *(leg.token_out for leg in ordered)),
        swap_count=len(ordered),
        strategy=f"{len(ordered)}-hop",
    )
