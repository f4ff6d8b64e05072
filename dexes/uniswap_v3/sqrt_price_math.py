"""SqrtPriceMath: next prices and token deltas between prices, rounded like the V3 contracts.

Every branch the contract takes on 256-bit overflow is reproduced, because the
fallback formulas round differently from the precise ones.
"""

from __future__ import annotations

from dexes.uniswap_v3.full_math import (
    MAX_UINT160,
    MAX_UINT256,
    Q96,
    MathOverflowError,
    div_rounding_up,
    mul_div,
    mul_div_rounding_up,
    to_uint160,
)


def get_next_sqrt_price_from_amount0_rounding_up(sqrt_price_x96: int, liquidity: int, amount: int, add: bool) -> int:
    """Price after adding (input) or removing (output) ``amount`` of token0; rounds up."""
    if amount == 0:
        return sqrt_price_x96
    numerator1 = liquidity << 96
    product = amount * sqrt_price_x96
    if add:
        if product <= MAX_UINT256:
            denominator = numerator1 + product
            if denominator <= MAX_UINT256:  # the contract's `denominator >= numerator1` overflow check
                return mul_div_rounding_up(numerator1, sqrt_price_x96, denominator)
        return div_rounding_up(numerator1, numerator1 // sqrt_price_x96 + amount)
    if product > MAX_UINT256 or numerator1 <= product:
        raise MathOverflowError("getNextSqrtPriceFromAmount0RoundingUp: output exceeds virtual reserve")
    return to_uint160(mul_div_rounding_up(numerator1, sqrt_price_x96, numerator1 - product))


def get_next_sqrt_price_from_amount1_rounding_down(sqrt_price_x96: int, liquidity: int, amount: int, add: bool) -> int:
    """Price after adding (input) or removing (output) ``amount`` of token1; rounds down."""
    if add:
        # (amount << 96) // L and mulDiv(amount, Q96, L) are the same floor.
        quotient = (amount << 96) // liquidity if amount <= MAX_UINT160 else mul_div(amount, Q96, liquidity)
        return to_uint160(sqrt_price_x96 + quotient)
    quotient = (
        div_rounding_up(amount << 96, liquidity)
        if amount <= MAX_UINT160
        else mul_div_rounding_up(amount, Q96, liquidity)
    )
    if sqrt_price_x96 <= quotient:
        raise MathOverflowError("getNextSqrtPriceFromAmount1RoundingDown: output exceeds virtual reserve")
    return sqrt_price_x96 - quotient


def get_next_sqrt_price_from_input(sqrt_price_x96: int, liquidity: int, amount_in: int, zero_for_one: bool) -> int:
    """Price after swapping in ``amount_in`` (rounded so the price never moves too far)."""
    if sqrt_price_x96 <= 0 or liquidity <= 0:
        raise MathOverflowError("getNextSqrtPriceFromInput: zero price or liquidity")
    if zero_for_one:
        return get_next_sqrt_price_from_amount0_rounding_up(sqrt_price_x96, liquidity, amount_in, True)
    return get_next_sqrt_price_from_amount1_rounding_down(sqrt_price_x96, liquidity, amount_in, True)


def get_next_sqrt_price_from_output(sqrt_price_x96: int, liquidity: int, amount_out: int, zero_for_one: bool) -> int:
    """Price after swapping out ``amount_out`` (rounded so the price always moves far enough)."""
    if sqrt_price_x96 <= 0 or liquidity <= 0:
        raise MathOverflowError("getNextSqrtPriceFromOutput: zero price or liquidity")
    if zero_for_one:
        return get_next_sqrt_price_from_amount1_rounding_down(sqrt_price_x96, liquidity, amount_out, False)
    return get_next_sqrt_price_from_amount0_rounding_up(sqrt_price_x96, liquidity, amount_out, False)


def get_amount0_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token0 between two prices for ``liquidity``: L·(√b − √a)/(√a·√b), rounded as asked."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    if sqrt_ratio_a_x96 <= 0:
        raise MathOverflowError("getAmount0Delta: zero price")
    numerator1 = liquidity << 96
    numerator2 = sqrt_ratio_b_x96 - sqrt_ratio_a_x96
    if round_up:
        return div_rounding_up(mul_div_rounding_up(numerator1, numerator2, sqrt_ratio_b_x96), sqrt_ratio_a_x96)
    return mul_div(numerator1, numerator2, sqrt_ratio_b_x96) // sqrt_ratio_a_x96


def get_amount1_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token1 between two prices for ``liquidity``: L·(√b − √a), rounded as asked."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    if round_up:
        return mul_div_rounding_up(liquidity, sqrt_ratio_b_x96 - sqrt_ratio_a_x96, Q96)
    return mul_div(liquidity, sqrt_ratio_b_x96 - sqrt_ratio_a_x96, Q96)
