"""Concentrated-liquidity set-up maths (pure): start price, ticks and the
positions of a devnet V3/Algebra pool. deploy.py does the I/O.

Prices here are raw: token1 units per token0 unit, decimals included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, getcontext
from fractions import Fraction

MIN_TICK = -887272
MAX_TICK = 887272
LOG_BASE = math.log(1.0001)


@dataclass(frozen=True)
class Position:
    tick_lower: int
    tick_upper: int
    liquidity: int
    amount0: int  # what minting it costs, about (floats; the pool computes the exact figure)
    amount1: int


def sqrt_price_x96(price: Fraction) -> int:
    """floor(sqrt(price) * 2**96) for a raw price token1/token0."""
    return math.isqrt(price.numerator * 2**192 // price.denominator)


def tick_at(price: Fraction) -> int:
    """The tick whose price range holds `price`: floor(log_1.0001(price))."""
    getcontext().prec = 60
    ln = (Decimal(price.numerator) / Decimal(price.denominator)).ln()
    return math.floor(float(ln) / LOG_BASE)


def sqrt_at_tick(tick: int) -> float:
    return float(1.0001 ** (tick / 2))


def position_ticks(tick: int, width: float, spacing: int) -> tuple[int, int]:
    """Ticks on the spacing grid spanning price*(1-ish width) around `tick`,
    always with tick_lower <= tick < tick_upper (the position is in range)."""
    d = math.log(1 + width) / LOG_BASE
    lower = math.floor((tick - d) / spacing) * spacing
    upper = math.ceil((tick + d + 1) / spacing) * spacing
    lo_limit = math.ceil(MIN_TICK / spacing) * spacing
    hi_limit = math.floor(MAX_TICK / spacing) * spacing
    return max(lower, lo_limit), min(upper, hi_limit)


def cl_positions(price: Fraction, amount0_total: int, widths: tuple[float, ...], spacing: int) -> list[Position]:
    """Positions of several widths, each holding an equal share of
    `amount0_total` token0 (and the token1 its range needs at `price`)."""
    tick = tick_at(price)
    sp = math.sqrt(price.numerator / price.denominator)
    out = []
    share = amount0_total / len(widths)
    for width in widths:
        lower, upper = position_ticks(tick, width, spacing)
        sl, su = sqrt_at_tick(lower), sqrt_at_tick(upper)
        inv = 1 / sp - 1 / su
        if inv <= 0 or sp <= sl:
            continue
        liquidity = int(share / inv)
        out.append(Position(lower, upper, liquidity, int(liquidity * inv) + 1, int(liquidity * (sp - sl)) + 1))
    return out
