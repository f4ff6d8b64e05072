"""SwapMath.computeSwapStep: one step of a swap inside a single liquidity range.

Algebra's PriceMovementMath.movePriceTowardsTarget computes the same four values
with the same roundings (fee in millionths in both), so all three families share it.
"""

from __future__ import annotations

from typing import NamedTuple

from dexes.uniswap_v3.full_math import mul_div, mul_div_rounding_up
from dexes.uniswap_v3.sqrt_price_math import (
    get_amount0_delta,
    get_amount1_delta,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
)

FEE_DENOMINATOR = 1_000_000


class SwapStep(NamedTuple):
    sqrt_price_next_x96: int
    amount_in: int
    amount_out: int
    fee_amount: int


def compute_swap_step(
    sqrt_price_current_x96: int,
    sqrt_price_target_x96: int,
    liquidity: int,
    amount_remaining: int,
    fee_pips: int,
) -> SwapStep:
    """Move the price toward the target with ``amount_remaining`` (> 0 exact in, < 0 exact out).

    ``fee_pips`` is in millionths (3000 = 0.3 %). Returns the price reached, the
    input (without fee), the output and the fee, as SwapMath.computeSwapStep.
    """
    zero_for_one = sqrt_price_current_x96 >= sqrt_price_target_x96
    exact_in = amount_remaining >= 0
    if exact_in:
        remaining_less_fee = mul_div(amount_remaining, FEE_DENOMINATOR - fee_pips, FEE_DENOMINATOR)
        if zero_for_one:
            amount_in = get_amount0_delta(sqrt_price_target_x96, sqrt_price_current_x96, liquidity, True)
        else:
            amount_in = get_amount1_delta(sqrt_price_current_x96, sqrt_price_target_x96, liquidity, True)
        if remaining_less_fee >= amount_in:
            sqrt_price_next = sqrt_price_target_x96
        else:
            sqrt_price_next = get_next_sqrt_price_from_input(
                sqrt_price_current_x96, liquidity, remaining_less_fee, zero_for_one
            )
        amount_out = 0
    else:
        if zero_for_one:
            amount_out = get_amount1_delta(sqrt_price_target_x96, sqrt_price_current_x96, liquidity, False)
        else:
            amount_out = get_amount0_delta(sqrt_price_current_x96, sqrt_price_target_x96, liquidity, False)
        if -amount_remaining >= amount_out:
            sqrt_price_next = sqrt_price_target_x96
        else:
            sqrt_price_next = get_next_sqrt_price_from_output(
                sqrt_price_current_x96, liquidity, -amount_remaining, zero_for_one
            )
        amount_in = 0

    reached_target = sqrt_price_target_x96 == sqrt_price_next
    if zero_for_one:
        if not (reached_target and exact_in):
            amount_in = get_amount0_delta(sqrt_price_next, sqrt_price_current_x96, liquidity, True)
        if not (reached_target and not exact_in):
            amount_out = get_amount1_delta(sqrt_price_next, sqrt_price_current_x96, liquidity, False)
    else:
        if not (reached_target and exact_in):
            amount_in = get_amount1_delta(sqrt_price_current_x96, sqrt_price_next, liquidity, True)
        if not (reached_target and not exact_in):
            amount_out = get_amount0_delta(sqrt_price_current_x96, sqrt_price_next, liquidity, False)

    if not exact_in and amount_out > -amount_remaining:
        amount_out = -amount_remaining

    if exact_in and sqrt_price_next != sqrt_price_target_x96:
        fee_amount = amount_remaining - amount_in
    else:
        fee_amount = mul_div_rounding_up(amount_in, fee_pips, FEE_DENOMINATOR - fee_pips)
    return SwapStep(sqrt_price_next, amount_in, amount_out, fee_amount)
