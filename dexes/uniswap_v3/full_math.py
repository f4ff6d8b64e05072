"""Full-width multiply/divide helpers with the V3 contracts' rounding and overflow rules.

Python ints never overflow, so "full width" is free; what matters is reproducing
where the contracts *revert* (a result that does not fit 256 bits, a zero
denominator) so a simulated swap fails exactly where the real one would.
"""

from __future__ import annotations

MAX_UINT128 = (1 << 128) - 1
MAX_UINT160 = (1 << 160) - 1
MAX_UINT256 = (1 << 256) - 1
MAX_INT256 = (1 << 255) - 1
Q96 = 1 << 96


class MathOverflowError(ArithmeticError):
    """The contract would revert here (overflow, underflow or division by zero)."""


def mul_div(a: int, b: int, denominator: int) -> int:
    """⌊a·b / denominator⌋ like FullMath.mulDiv: reverts on a zero denominator or a result ≥ 2^256."""
    if denominator <= 0:
        raise MathOverflowError("mulDiv: denominator is zero")
    result = a * b // denominator
    if result > MAX_UINT256:
        raise MathOverflowError("mulDiv: result overflows uint256")
    return result


def mul_div_rounding_up(a: int, b: int, denominator: int) -> int:
    """⌈a·b / denominator⌉ like FullMath.mulDivRoundingUp."""
    if denominator <= 0:
        raise MathOverflowError("mulDivRoundingUp: denominator is zero")
    result = -(-(a * b) // denominator)
    if result > MAX_UINT256:
        raise MathOverflowError("mulDivRoundingUp: result overflows uint256")
    return result


def div_rounding_up(a: int, b: int) -> int:
    """⌈a / b⌉ like UnsafeMath.divRoundingUp (callers guarantee b > 0)."""
    if b <= 0:
        raise MathOverflowError("divRoundingUp: denominator is zero")
    return -(-a // b)


def to_uint160(value: int) -> int:
    """SafeCast.toUint160: reverts when the value does not fit."""
    if not 0 <= value <= MAX_UINT160:
        raise MathOverflowError(f"toUint160: {value} does not fit")
    return value


def to_int256(value: int) -> int:
    """SafeCast.toInt256: reverts when the value does not fit."""
    if value > MAX_INT256:
        raise MathOverflowError(f"toInt256: {value} does not fit")
    return value


def add_delta(liquidity: int, delta: int) -> int:
    """LiquidityMath.addDelta: uint128 plus int128, reverting on under/overflow."""
    result = liquidity + delta
    if result < 0:
        raise MathOverflowError("addDelta: liquidity underflow (LS)")
    if result > MAX_UINT128:
        raise MathOverflowError("addDelta: liquidity overflow (LA)")
    return result
