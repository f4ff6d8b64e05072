"""Concentrated-liquidity set-up maths (pure): start price, ticks, positions."""

from __future__ import annotations

import math
from fractions import Fraction

from devnet.liquidity import MAX_TICK, MIN_TICK, cl_positions, position_ticks, sqrt_price_x96, tick_at


def test_sqrt_price_and_tick_of_known_prices() -> None:
    assert sqrt_price_x96(Fraction(1)) == 2**96
    assert sqrt_price_x96(Fraction(4)) == 2 * 2**96
    assert tick_at(Fraction(1)) == 0
    assert tick_at(Fraction(10001, 10000)) == 1  # exactly 1.0001^1
    # 600 USDT (18 dec) per WBNB (18 dec): tick = floor(log_1.0001 600)
    assert tick_at(Fraction(600)) == math.floor(math.log(600) / math.log(1.0001))
    # USDC (6 dec) per WMATIC (18 dec) at $0.4: a negative tick
    assert tick_at(Fraction(4, 10) * Fraction(10**6, 10**18)) < 0


def test_positions_are_in_range_on_the_grid_and_nested() -> None:
    price = Fraction(600)
    tick = tick_at(price)
    for spacing in (1, 10, 50, 60, 200):
        positions = cl_positions(price, 10**24, (0.004, 0.02, 0.08, 0.5), spacing)
        assert len(positions) == 4
        for p in positions:
            assert p.tick_lower % spacing == 0 and p.tick_upper % spacing == 0
            assert MIN_TICK <= p.tick_lower <= tick < p.tick_upper <= MAX_TICK
            assert p.liquidity > 0 and p.amount0 > 0 and p.amount1 > 0
        widths = [p.tick_upper - p.tick_lower for p in positions]
        assert widths == sorted(widths)  # narrow to wide
        # Same token0 share each: the narrowest position is the most concentrated.
        assert positions[0].liquidity > positions[-1].liquidity


def test_a_very_wide_position_is_clamped_to_the_usable_ticks() -> None:
    lower, upper = position_ticks(0, 1e40, 60)
    assert lower == math.ceil(MIN_TICK / 60) * 60 and upper == math.floor(MAX_TICK / 60) * 60
