"""Cycles with concentrated-liquidity hops: a float model to find the optimum, integers to judge it.

Pure (no Django, no I/O). A mixed cycle's hops are V2 pairs (``(r_in, r_out, gamma)``, the
fee factor scaled by 10000, as ``opportunities.cycles``) and V3-style pools (a
``V3PoolState`` and a direction).

Search, in two stages:

1. **Float model, on marginal prices.** Each V2 hop is its closed form; each V3 hop a walk
   over its initialized ticks in floats (``V3Curve``: within a tick range the pool is a
   constant-product curve with virtual reserves, so each range is closed form, then the
   tick is crossed). Each hop returns its output and its marginal rate after the trade;
   their product is the cycle's marginal rate ``D(x)``, which falls as ``x`` grows
   (profit ``out(x) − x`` is concave). The optimum solves ``D(x) = 1``: bracketed by
   doubling from the closed-form optimum of the in-range (virtual-reserve) cycle, then
   solved by false position (Illinois) on ``ln D``, ~5–10 float evaluations.
2. **Integer judge.** The reported input is the float optimum rounded; the reported output
   is the contracts' integer simulation of the cycle (``get_amount_out`` with the pair's
   fee, ``V3PoolState.swap`` tick by tick), so every reported figure is what the
   executor gets on the same state. The rounding of the input costs a negligible part of
   the profit (the profit is flat at its top), not exactness of the figures.

A V3 hop that cannot take the whole input (the price would pass the last initialized
tick) yields 0: such an input is never reported.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate

from dexes.uniswap_v3.pool import SwapRevertError, TickInfo, V3PoolState
from dexes.uniswap_v3.tick_math import MAX_TICK, MIN_TICK, get_sqrt_ratio_at_tick

Q96 = float(1 << 96)
FEE_DENOMINATOR = 10_000
_LOG_BASE = math.log(1.0001) / 2  # sqrt price at tick t = exp(t · ln(1.0001) / 2)
_MAX_ITERATIONS = 40
_RELATIVE_TOLERANCE = 1e-9


class TickProfile:
    """A pool's initialized ticks as the float model uses them, unchanged by Swaps (rebuilt after a Mint or Burn):
    ticks in order, √P at each (float), their liquidity nets, and the nets' prefix sums (exact integers)."""

    __slots__ = ("nets", "prefix", "sqrt_prices", "ticks")

    def __init__(self, ticks: Mapping[int, TickInfo]) -> None:
        self.ticks = sorted(ticks)
        self.sqrt_prices = [math.exp(t * _LOG_BASE) for t in self.ticks]
        self.nets = [ticks[t].liquidity_net for t in self.ticks]
        self.prefix = list(accumulate(self.nets, initial=0))


class V3Curve:
    """A V3 pool's state in floats: price, in-range liquidity, fee, and per direction the segments between
    initialized ticks with the cumulative input and output needed to reach each (built on first use).

    A trade is then a binary search for its segment and one closed form inside it: O(log ticks).
    """

    __slots__ = (
        "_crossed_by_direction",
        "_max_liquidity",
        "_segments",
        "_starts",
        "fee",
        "liquidity",
        "liquidity_int",
        "profile",
        "sqrt_price",
        "state_tick",
        "window",
    )

    def __init__(
        self, state: V3PoolState, window: tuple[int, int] | None = None, profile: TickProfile | None = None
    ) -> None:
        self.window = window  # tick range whose initialized ticks are known; beyond it nothing is assumed
        self.sqrt_price = state.sqrt_price_x96 / Q96
        self.liquidity_int = state.liquidity
        self.liquidity = float(state.liquidity)
        self.fee = state.fee / 1e6
        self.state_tick = state.tick
        self.profile = profile if profile is not None else TickProfile(state.ticks)
        self._segments: dict[bool, list[tuple[float, float, float, float]]] = {}
        self._starts: dict[bool, list[float]] = {}
        self._max_liquidity: dict[bool, float] = {}
        self._crossed_by_direction: dict[bool, range] = {}

    def _crossed(self, zero_for_one: bool) -> range:
        """Indexes (in ``profile``) of the initialized ticks a swap in this direction crosses, nearest first."""
        crossed = self._crossed_by_direction.get(zero_for_one)
        if crossed is None:
            ticks = self.profile.ticks
            low, high = self.window or (MIN_TICK, MAX_TICK)
            current = bisect_right(ticks, self.state_tick)
            if zero_for_one:
                crossed = range(current - 1, bisect_left(ticks, low) - 1, -1)
            else:
                crossed = range(current, max(current, bisect_right(ticks, high)))
            self._crossed_by_direction[zero_for_one] = crossed
        return crossed

    def limit(self, zero_for_one: bool) -> int | None:
        """The sqrt price limit that keeps an integer simulation inside the known ticks (None: no limit)."""
        if self.window is None:
            return None
        tick = self.window[0] if zero_for_one else self.window[1]
        if (tick >= self.state_tick) if zero_for_one else (tick <= self.state_tick):
            return None
        return get_sqrt_ratio_at_tick(tick)

    def marginal_rate(self, zero_for_one: bool) -> float:
        """Output per unit of input for an infinitesimal trade (after the fee)."""
        price = self.sqrt_price * self.sqrt_price
        if price <= 0:
            return 0.0
        return (1 - self.fee) * (price if zero_for_one else 1 / price)

    def _build(self, zero_for_one: bool) -> None:
        # Segments (input so far, output so far, √P at the segment's start, liquidity in it), input after the fee.
        crossed = self._crossed(zero_for_one)  # going down, crossing a tick subtracts its net
        sqrt_prices, nets = self.profile.sqrt_prices, self.profile.nets
        s = self.sqrt_price
        liquidity = self.liquidity
        total_in = total_out = 0.0
        segments = []
        for index in crossed:
            s_tick = sqrt_prices[index]
            net = float(nets[index])
            if (s_tick < s) if zero_for_one else (s_tick > s):
                segments.append((total_in, total_out, s, liquidity))
                if liquidity > 0:
                    if zero_for_one:
                        total_in += liquidity * (1 / s_tick - 1 / s)
                        total_out += liquidity * (s - s_tick)
                    else:
                        total_in += liquidity * (s_tick - s)
                        total_out += liquidity * (1 / s - 1 / s_tick)
                s = s_tick
            liquidity += -net if zero_for_one else net
        segments.append((total_in, total_out, s, 0.0))  # beyond the last known tick: no liquidity
        self._segments[zero_for_one] = segments
        self._starts[zero_for_one] = [segment[0] for segment in segments]

    def bounding_reserves(self, zero_for_one: bool) -> tuple[float, float]:
        """(reserve in, reserve out) of a constant-product curve at the current price whose output is at least
        the pool's for every input: the most liquidity any segment on this side has, everywhere."""
        liquidity = self._max_liquidity.get(zero_for_one)
        if liquidity is None:
            # In integers from the nets' prefix sums: after crossing down to tick j the pool holds
            # L − (prefix[current] − prefix[j]); up to tick j, L + (prefix[j] − prefix[current]).
            crossed = self._crossed(zero_for_one)
            prefix = self.profile.prefix
            if zero_for_one:
                current, deepest = crossed.start + 1, crossed.stop + 1
                most = max(prefix[deepest : current + 1], default=prefix[current]) - prefix[current]
            else:
                current, deepest = crossed.start, crossed.stop
                most = max(prefix[current : deepest + 1]) - prefix[current]
            self._max_liquidity[zero_for_one] = liquidity = float(self.liquidity_int + most)
        reserve0 = liquidity / self.sqrt_price
        reserve1 = liquidity * self.sqrt_price
        return (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)

    def trade(self, zero_for_one: bool, amount_in: float) -> tuple[float, float]:
        """(output, marginal rate after the trade) of an exact-input swap; (partial output, 0.0) if
        the known liquidity cannot absorb it."""
        if zero_for_one not in self._segments:
            self._build(zero_for_one)
        segments = self._segments[zero_for_one]
        a = amount_in * (1 - self.fee)
        index = bisect_right(self._starts[zero_for_one], a) - 1
        total_in, total_out, s, liquidity = segments[max(index, 0)]
        if liquidity <= 0:
            return total_out, 0.0
        rest = a - total_in
        if zero_for_one:
            s_new = liquidity * s / (liquidity + rest * s)
            return total_out + liquidity * (s - s_new), (1 - self.fee) * s_new * s_new
        s_new = s + rest / liquidity
        return total_out + liquidity * (1 / s - 1 / s_new), (1 - self.fee) / (s_new * s_new)

    def virtual_reserves(self, zero_for_one: bool) -> tuple[float, float]:
        """(reserve in, reserve out) of the constant-product curve equal to the pool in the current range."""
        reserve0 = self.liquidity / self.sqrt_price
        reserve1 = self.liquidity * self.sqrt_price
        return (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)


@dataclass(frozen=True, slots=True)
class V2Leg:
    reserve_in: int
    reserve_out: int
    gamma: int  # 10000 - fee in bps


@dataclass(frozen=True, slots=True)
class V3Leg:
    state: V3PoolState
    zero_for_one: bool
    curve: V3Curve
    limit: int | None = None  # sqrt price the simulation may not pass (the edge of the known ticks)


Leg = V2Leg | V3Leg


def float_trade(legs: Sequence[Leg], amount_in: float) -> tuple[float, float]:
    """(output, marginal rate dout/dx) of the cycle at ``amount_in``, in the float model."""
    return _plan_trade(_float_plan(legs), amount_in)


# A leg as the float model evaluates it: (fee factor, reserve in, reserve out) for a pair, a bound
# ``V3Curve.trade`` and its direction for a V3 hop (converted once per search, not once per evaluation).
_PlanLeg = tuple[float, float, float] | tuple[V3Curve, bool]


def _float_plan(legs: Sequence[Leg]) -> list[_PlanLeg]:
    plan: list[_PlanLeg] = []
    for leg in legs:
        if isinstance(leg, V2Leg):
            plan.append((leg.gamma / FEE_DENOMINATOR, float(leg.reserve_in), float(leg.reserve_out)))
        else:
            plan.append((leg.curve, leg.zero_for_one))
    return plan


def _plan_trade(plan: Sequence[_PlanLeg], amount_in: float) -> tuple[float, float]:
    amount = amount_in
    rate = 1.0
    for leg in plan:
        if len(leg) == 3:
            gamma, r_in, r_out = leg  # type: ignore[misc]
            denominator = r_in + gamma * amount
            rate *= gamma * r_in * r_out / (denominator * denominator)
            amount = gamma * amount * r_out / denominator
        else:
            curve, zero_for_one = leg  # type: ignore[misc]
            amount, leg_rate = curve.trade(zero_for_one, amount)
            rate *= leg_rate
        if amount <= 0 or rate == 0:
            return 0.0, 0.0
    return amount, rate


def marginal_rate(legs: Sequence[Leg]) -> float:
    """The cycle's marginal rate at zero input: no input profits when it is ≤ 1 (concave profit)."""
    rate = 1.0
    for leg in legs:
        if isinstance(leg, V2Leg):
            rate *= leg.gamma / FEE_DENOMINATOR * leg.reserve_out / leg.reserve_in if leg.reserve_in else 0.0
        else:
            rate *= leg.curve.marginal_rate(leg.zero_for_one)
    return rate


def _in_range_optimum(legs: Sequence[Leg]) -> float:
    """Closed-form optimum of the cycle with every V3 hop replaced by its in-range constant-product curve."""
    k = m = n = 0.0
    for position, leg in enumerate(legs):
        if isinstance(leg, V2Leg):
            gamma, r_in, r_out = leg.gamma / FEE_DENOMINATOR, float(leg.reserve_in), float(leg.reserve_out)
        else:
            gamma = 1 - leg.curve.fee
            r_in, r_out = leg.curve.virtual_reserves(leg.zero_for_one)
        if position == 0:
            k, m, n = gamma * r_out, r_in, gamma
        else:
            k, m, n = k * gamma * r_out, m * r_in, n * r_in + gamma * k
    if k <= m or n <= 0:
        return 0.0
    return (math.sqrt(k * m) - m) / n


def mixed_profit_bound(legs: Sequence[Leg]) -> float:
    """A real number no input's profit exceeds: each V3 hop replaced by the constant-product curve at its
    price with the most liquidity it has on that side (``V3Curve.bounding_reserves``: never less output),
    composed with the V2 hops in closed form ``out = K·x / (M + N·x)``; ``(√K − √M)² / N``."""
    hops = []
    for leg in legs:
        if isinstance(leg, V2Leg):
            hops.append((leg.gamma / FEE_DENOMINATOR, float(leg.reserve_in), float(leg.reserve_out)))
        else:
            hops.append((1 - leg.curve.fee, *leg.curve.bounding_reserves(leg.zero_for_one)))
    return constant_product_bound(hops)


def constant_product_bound(hops: Sequence[tuple[float, float, float]]) -> float:
    """``(√K − √M)² / N`` of constant-product hops ``(fee factor, reserve in, reserve out)`` composed in closed
    form (``mixed_profit_bound`` with each hop's curve already chosen); 0.0 when none profits."""
    k, m, n = 1.0, 1.0, 0.0
    for gamma, r_in, r_out in hops:
        if r_in <= 0:
            return 0.0
        k, m, n = k * gamma * r_out, m * r_in, n * r_in + gamma * k
    if k <= m or n <= 0:
        return 0.0
    return (math.sqrt(k) - math.sqrt(m)) ** 2 / n


@dataclass(frozen=True, slots=True)
class FloatOptimum:
    amount_in: float
    profit: float
    evaluations: int


def float_optimum(legs: Sequence[Leg]) -> FloatOptimum | None:
    """The real-valued optimum of the cycle's float model, or None when no input profits.

    Each point is evaluated once (its output and rate are kept for the bracket's ends and the result).
    """
    rate_at_zero = marginal_rate(legs)
    if rate_at_zero <= 1.0:
        return None
    plan = _float_plan(legs)
    evaluations = 0
    guess = _in_range_optimum(legs)
    if not guess > 0:
        guess = 1.0
    low, high = 0.0, guess
    out_low = rate_low = 0.0
    # Bracket: D(low) > 1 ≥ D(high).
    for _ in range(200):
        out_high, rate_high = _plan_trade(plan, high)
        evaluations += 1
        if rate_high <= 1.0:
            break
        low, out_low, rate_low, high = high, out_high, rate_high, high * 2
    else:
        return None
    # False position on g(x) = ln D(x) (Illinois), in x; bisection where the model gives no rate.
    g_low = math.log(rate_at_zero) if low == 0 else math.log(rate_low)
    g_high = math.log(rate_high) if rate_high > 0 else -math.inf
    side = 0
    x = high
    out_x = out_high
    for _ in range(_MAX_ITERATIONS):
        if math.isinf(g_high) or g_low == g_high:
            x = (low + high) / 2
        else:
            x = high - g_high * (high - low) / (g_high - g_low)
            if not low < x < high:
                x = (low + high) / 2
        out_x, rate = _plan_trade(plan, x)
        evaluations += 1
        g = math.log(rate) if rate > 0 else -math.inf
        if g > 0:
            low, g_low, out_low = x, g, out_x
            if side == -1 and not math.isinf(g_high):
                g_high /= 2
            side = -1
        else:
            high, g_high = x, g
            if side == 1:
                g_low /= 2
            side = 1
        if high - low <= _RELATIVE_TOLERANCE * high:
            break
    if low > 0:
        x, out_x = low, out_low
    return FloatOptimum(x, out_x - x, evaluations)


def integer_amount_out(legs: Sequence[Leg], amount_in: int) -> int:
    """The contracts' integer output of the cycle (0 if a V3 hop cannot take its whole input)."""
    amount = amount_in
    for leg in legs:
        if amount <= 0:
            return 0
        if isinstance(leg, V2Leg):
            with_fee = amount * leg.gamma
            amount = (with_fee * leg.reserve_out) // (leg.reserve_in * FEE_DENOMINATOR + with_fee)
        else:
            try:
                result = leg.state.swap(leg.zero_for_one, amount, leg.limit)
            except SwapRevertError:
                return 0
            if result.amount_in(leg.zero_for_one) != amount:
                return 0
            amount = result.amount_out(leg.zero_for_one)
    return amount


def best_mixed_input(legs: Sequence[Leg], optimum: FloatOptimum | None = None) -> tuple[int, int] | None:
    """(amount in, integer amount out) at the float optimum rounded, or None when it does not profit."""
    optimum = optimum or float_optimum(legs)
    if optimum is None or optimum.profit <= 0:
        return None
    x = max(1, round(optimum.amount_in))
    out = integer_amount_out(legs, x)
    return (x, out) if out > x else None
