"""Exact Uniswap-V2 pool math with a per-DEX fee in basis points.

Reproduces the router/pair integer rounding bit for bit, so amounts we report
are the amounts a transaction would really get (the devnet pair uses the same
formula). Pure functions of ints: no floats anywhere.
"""

from __future__ import annotations

from fractions import Fraction

FEE_DENOMINATOR = 10_000


def _check_fee(fee_bps: int) -> None:
    if not 0 <= fee_bps < FEE_DENOMINATOR:
        raise ValueError(f"fee_bps must be in [0, {FEE_DENOMINATOR}), got {fee_bps}")


def _check_reserves(reserve_in: int, reserve_out: int) -> None:
    if reserve_in <= 0 or reserve_out <= 0:
        raise ValueError(f"reserves must be positive, got {reserve_in}, {reserve_out}")


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int:
    """Output of swapping ``amount_in`` into a pool, rounded down like the router.

    ``amount_in == 0`` returns 0 (the contract reverts instead; a zero-size
    trade having zero output keeps search code simple). Negative amounts raise.
    """
    if amount_in < 0:
        raise ValueError(f"amount_in must be >= 0, got {amount_in}")
    _check_reserves(reserve_in, reserve_out)
    _check_fee(fee_bps)
    amount_in_with_fee = amount_in * (FEE_DENOMINATOR - fee_bps)
    return (amount_in_with_fee * reserve_out) // (reserve_in * FEE_DENOMINATOR + amount_in_with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int:
    """Input needed to receive ``amount_out``, with the router's ``+1`` rounding.

    The result always satisfies ``get_amount_out(result, ...) >= amount_out``.
    """
    if amount_out <= 0:
        raise ValueError(f"amount_out must be > 0, got {amount_out}")
    _check_reserves(reserve_in, reserve_out)
    _check_fee(fee_bps)
    if amount_out >= reserve_out:
        raise ValueError(f"amount_out {amount_out} drains the pool (reserve_out {reserve_out})")
    numerator = reserve_in * amount_out * FEE_DENOMINATOR
    denominator = (reserve_out - amount_out) * (FEE_DENOMINATOR - fee_bps)
    return numerator // denominator + 1


def mid_price(reserve_in: int, reserve_out: int) -> Fraction:
    """Marginal price without fee: raw units of out per raw unit of in."""
    _check_reserves(reserve_in, reserve_out)
    return Fraction(reserve_out, reserve_in)


def effective_mid_price(reserve_in: int, reserve_out: int, fee_bps: int) -> Fraction:
    """Marginal price after the fee: what an infinitesimal trade really gets."""
    _check_fee(fee_bps)
    return mid_price(reserve_in, reserve_out) * Fraction(FEE_DENOMINATOR - fee_bps, FEE_DENOMINATOR)


def mid_price_scaled(reserve_in: int, reserve_out: int, decimals_in: int, decimals_out: int) -> Fraction:
    """Marginal price in whole tokens of out per whole token of in (decimals aware)."""
    return mid_price(reserve_in, reserve_out) * Fraction(10**decimals_in, 10**decimals_out)
