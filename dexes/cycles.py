"""Arbitrage cycles mixing V2 pairs and V3/Algebra pools: exact output and the best integer input.

A cycle is a sequence of hops, each one swap direction through one pool, the last
returning to the first token. ``cycle_amount_out`` applies the contracts' own
integer math hop by hop (V2: the pair's formula with the DEX's fee; V3: the
tick-by-tick simulation), so its figure is what a transaction would get.

Profit ``p(x) = out(x) − x`` is concave in the real-valued model (each hop's
marginal price falls as its input grows, and composing increasing concave
functions stays concave), piecewise across ticks. ``best_cycle_input`` therefore
brackets the maximum by doubling, narrows it by golden-section search on the
integer profit, and finishes by evaluating every integer in a final window: the
integer simulation is the judge of every reported figure. Rounding makes the
integer profit slightly jagged near the top; the window absorbs that (checked
against brute force in the tests).

Pure: plain ints and dataclasses, no I/O. A V2 hop is the pair's ``getAmountOut`` with a
fee in basis points (``dexes.uniswap_v2.swap_math``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dexes.uniswap_v2.swap_math import get_amount_out
from dexes.uniswap_v3.pool import SwapRevertError, V3PoolState

FINAL_WINDOW = 16
# Most integers enumerated around the peak to make the result exact (see best_cycle_input).
EXACT_ENUMERATION_LIMIT = 4096
# Rounding loss bound per hop, in units of that hop's output token (each computeSwapStep
# rounds input up and output down; a few steps per swap near the optimum).
ROUNDING_UNITS_PER_HOP = 8
_GOLDEN = 0.6180339887498949


@dataclass(frozen=True, slots=True)
class V2Hop:
    """A swap through a constant-product pair: reserves oriented in → out, fee in basis points."""

    pool: str
    token_in: str
    token_out: str
    reserve_in: int
    reserve_out: int
    fee_bps: int

    def amount_out(self, amount_in: int) -> int:
        if amount_in <= 0:
            return 0
        return get_amount_out(amount_in, self.reserve_in, self.reserve_out, self.fee_bps)


@dataclass(frozen=True, slots=True)
class V3Hop:
    """An exact-input swap through a V3-style pool (Uniswap V3, PancakeSwap V3 or Algebra state).

    ``zero_for_one`` is True when token_in is the pool's token0. The state is not mutated.
    """

    pool: str
    token_in: str
    token_out: str
    state: V3PoolState
    zero_for_one: bool

    def amount_out(self, amount_in: int) -> int:
        """Output for ``amount_in``; 0 when the pool cannot absorb all of it (price would hit the bounds)."""
        if amount_in <= 0:
            return 0
        try:
            result = self.state.swap(self.zero_for_one, amount_in)
        except SwapRevertError:
            return 0
        if result.amount_in(self.zero_for_one) != amount_in:
            return 0  # partial fill: the pool ran out of liquidity, not a usable trade
        return result.amount_out(self.zero_for_one)


Hop = V2Hop | V3Hop


@dataclass(frozen=True, slots=True)
class CycleOptimum:
    """The best integer input found, what it returns, and how many cycle simulations it took."""

    amount_in: int
    amount_out: int
    profit: int
    evaluations: int
    exact: bool  # True: no other integer input yields more (proved by the plateau bound)


def check_cycle(hops: Sequence[Hop]) -> None:
    """Raise ValueError unless each hop's output token is the next hop's input and the last closes the loop."""
    if len(hops) < 2:
        raise ValueError("a cycle needs at least 2 hops")
    for current, following in zip(hops, [*hops[1:], hops[0]], strict=True):
        if current.token_out != following.token_in:
            raise ValueError(f"cycle broken between {current.pool} and {following.pool}")


def cycle_amount_out(hops: Sequence[Hop], amount_in: int) -> int:
    """Exact output of trading ``amount_in`` of the start token around the cycle."""
    amount = amount_in
    for hop in hops:
        amount = hop.amount_out(amount)
        if amount == 0:
            return 0
    return amount


def best_cycle_input(
    hops: Sequence[Hop], *, max_input: int = 1 << 160, window: int = FINAL_WINDOW
) -> CycleOptimum | None:
    """The profit-maximising integer input of a cycle, or None when no input profits.

    Doubling from 1 brackets the concave profit's maximum; golden-section search on the
    integer profit narrows the bracket to ``window`` integers; each of those is simulated.
    Then every integer whose profit could still beat the best (the rounding-noise plateau,
    bounded on both sides by probes) is simulated when there are at most
    ``EXACT_ENUMERATION_LIMIT`` of them: the result is then the exact integer optimum
    (``exact=True``; ties go to the smaller input). Otherwise it is the best of the
    window, within the hops' rounding noise of the optimum. Every reported figure is
    an integer simulation.
    """
    check_cycle(hops)
    evaluations = 0
    cache: dict[int, int] = {}

    def profit(x: int) -> int:
        nonlocal evaluations
        if x not in cache:
            evaluations += 1
            cache[x] = cycle_amount_out(hops, x) - x
        return cache[x]

    # Bracket: double x until the profit, once positive, falls (the peak then lies in
    # [x/2, 2x]) or the output vanishes after having been positive (liquidity exhausted).
    # Tiny inputs can round to nothing on the way; doubling simply passes them.
    x, previous = 1, profit(1)
    seen_output = previous > -1
    high = x
    while x < max_input:
        high = min(x * 2, max_input)
        current = profit(high)
        no_output = current == -high
        if (current < previous and previous > 0) or (no_output and seen_output):
            break
        seen_output = seen_output or not no_output
        x, previous = high, current
    low = max(1, x // 2)

    # Golden section on integers: keep the sub-interval that must contain the maximum.
    while high - low > window:
        span = high - low
        left = high - int(span * _GOLDEN)
        right = low + int(span * _GOLDEN)
        if left >= right:
            left, right = low + span // 3, high - span // 3
        if profit(left) < profit(right):
            low = left
        else:
            high = right

    for candidate in range(max(1, low - window), min(high + window, max_input) + 1):
        profit(candidate)
    best_x, best_p = min(cache.items(), key=lambda item: (-item[1], item[0]))
    if best_p <= 0:
        return None

    # Exactness. Integer outputs never exceed the real-valued ones, and fall short of them by
    # at most `noise` start-token units. Walking out from best_x until the integer profit is
    # below best_p - noise on both sides brackets every input that could still beat best_p
    # (the real profit is concave, so it only falls further out); enumerate that bracket.
    noise = rounding_noise(hops, best_x)
    half = EXACT_ENUMERATION_LIMIT // 2
    if all(1 <= x <= max_input and profit(x) + noise >= best_p for x in (best_x - half, best_x + half)):
        # The plateau is wider than we would enumerate (deep pools): stop at the window's best.
        return CycleOptimum(best_x, best_x + best_p, best_p, evaluations, False)
    reach = []
    for sign in (-1, 1):
        step = 1
        while True:
            probe = best_x + sign * step
            if probe < 1 or probe > max_input or profit(probe) + noise < best_p:
                break
            step *= 2
        reach.append(step)
    exact = reach[0] + reach[1] <= EXACT_ENUMERATION_LIMIT
    if exact:
        for candidate in range(max(1, best_x - reach[0]), min(best_x + reach[1], max_input) + 1):
            profit(candidate)
        best_x, best_p = min(cache.items(), key=lambda item: (-item[1], item[0]))
    return CycleOptimum(best_x, best_x + best_p, best_p, evaluations, exact)


def rounding_noise(hops: Sequence[Hop], amount_in: int) -> int:
    """Bound on real-valued minus integer cycle output, in start-token units, near ``amount_in``.

    One unit of hop i's output is worth about amount_out / amount_after_hop_i at the end.
    """
    amounts = [amount_in]
    for hop in hops:
        amounts.append(hop.amount_out(amounts[-1]))
    final = amounts[-1]
    return 1 + sum(ROUNDING_UNITS_PER_HOP * -(-final // max(1, amount)) for amount in amounts[1:])
