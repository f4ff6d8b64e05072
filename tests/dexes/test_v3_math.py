"""V3 math against independent high-precision arithmetic, and rounding properties (hypothesis)."""

from __future__ import annotations

import random
from decimal import Decimal, getcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dexes.uniswap_v3.full_math import MAX_UINT128, MathOverflowError, mul_div, mul_div_rounding_up
from dexes.uniswap_v3.sqrt_price_math import (
    get_amount0_delta,
    get_amount1_delta,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
)
from dexes.uniswap_v3.swap_math import FEE_DENOMINATOR, compute_swap_step
from dexes.uniswap_v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    TickOutOfRangeError,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)

getcontext().prec = 80
Q96 = 1 << 96


def exact_sqrt_ratio(tick: int) -> Decimal:
    return (Decimal("1.0001") ** tick).sqrt() * Q96


def exact_tick(sqrt_price_x96: int) -> int:
    """⌊log_1.0001((p / 2^96)²)⌋ in 80-digit decimals."""
    value = (Decimal(sqrt_price_x96) / Q96) ** 2
    return int((value.ln() / Decimal("1.0001").ln()).to_integral_value(rounding="ROUND_FLOOR"))


# ----- TickMath ---------------------------------------------------------------------------------------


def test_sqrt_ratio_bounds_are_the_contract_constants() -> None:
    assert get_sqrt_ratio_at_tick(MIN_TICK) == MIN_SQRT_RATIO
    assert get_sqrt_ratio_at_tick(MAX_TICK) == MAX_SQRT_RATIO
    assert get_sqrt_ratio_at_tick(0) == Q96
    assert get_tick_at_sqrt_ratio(MIN_SQRT_RATIO) == MIN_TICK
    assert get_tick_at_sqrt_ratio(MAX_SQRT_RATIO - 1) == MAX_TICK - 1
    for bad_tick in (MIN_TICK - 1, MAX_TICK + 1):
        with pytest.raises(TickOutOfRangeError):
            get_sqrt_ratio_at_tick(bad_tick)
    for bad_price in (MIN_SQRT_RATIO - 1, MAX_SQRT_RATIO):
        with pytest.raises(TickOutOfRangeError):
            get_tick_at_sqrt_ratio(bad_price)


def test_sqrt_ratio_at_random_ticks_matches_high_precision() -> None:
    rng = random.Random(7)
    ticks = [MIN_TICK, MIN_TICK + 1, -1, 1, MAX_TICK - 1, *(rng.randint(MIN_TICK, MAX_TICK) for _ in range(400))]
    for tick in ticks:
        ours = get_sqrt_ratio_at_tick(tick)
        exact = exact_sqrt_ratio(tick)
        # The contract builds 2^128/√1.0001^|tick| with up to 20 truncating products (each
        # loses < 1 unit of that Q128 value, inverted for positive ticks), then rounds up to Q96.
        small_ratio = Decimal(2) ** 128 / (Decimal("1.0001") ** abs(tick)).sqrt()
        assert abs(ours - exact) <= 1 + exact * 21 / small_ratio, tick


def test_tick_at_sqrt_ratio_is_the_greatest_tick_not_above_the_price() -> None:
    rng = random.Random(11)
    for _ in range(400):
        tick = rng.randint(MIN_TICK + 1, MAX_TICK - 1)
        price = get_sqrt_ratio_at_tick(tick)
        assert get_tick_at_sqrt_ratio(price) == tick
        assert get_tick_at_sqrt_ratio(price - 1) == tick - 1
        inside = rng.randint(price, get_sqrt_ratio_at_tick(tick + 1) - 1)
        assert get_tick_at_sqrt_ratio(inside) == tick
    for _ in range(400):
        price = rng.randint(MIN_SQRT_RATIO, MAX_SQRT_RATIO - 1)
        assert get_tick_at_sqrt_ratio(price) == exact_tick(price)


# ----- FullMath ---------------------------------------------------------------------------------------


@given(st.integers(0, 2**256 - 1), st.integers(0, 2**256 - 1), st.integers(1, 2**256 - 1))
def test_mul_div_rounds_down_and_up_or_reverts_like_the_contract(a: int, b: int, d: int) -> None:
    exact = Fraction(a * b, d)
    if exact >= 2**256:
        with pytest.raises(MathOverflowError):
            mul_div(a, b, d)
        return
    down = mul_div(a, b, d)
    assert down <= exact < down + 1
    if -(-a * b // d) < 2**256:
        up = mul_div_rounding_up(a, b, d)
        assert up - 1 < exact <= up


# ----- SqrtPriceMath and SwapMath --------------------------------------------------------------------

prices = st.integers(MIN_SQRT_RATIO, MAX_SQRT_RATIO - 1)
liquidities = st.integers(1, MAX_UINT128)
amounts = st.integers(1, 2**200)


@given(prices, liquidities, amounts, st.booleans())
def test_next_price_from_input_never_moves_too_far(price: int, liquidity: int, amount: int, zero_for_one: bool) -> None:
    try:
        nxt = get_next_sqrt_price_from_input(price, liquidity, amount, zero_for_one)
    except MathOverflowError:
        return
    # Exact next price: 1/√P' = 1/√P + x/L (token0 in) or √P' = √P + y/L (token1 in), scaled by 2^96.
    if zero_for_one:
        exact = Fraction(liquidity * Q96 * price, liquidity * Q96 + amount * price)
        assert exact <= nxt <= price  # rounded up: the price falls no further than exact
    else:
        exact = price + Fraction(amount * Q96, liquidity)
        assert price <= nxt <= exact  # rounded down: rises no further than exact


@given(prices, liquidities, amounts, st.booleans())
def test_next_price_from_output_always_moves_far_enough(
    price: int, liquidity: int, amount: int, zero_for_one: bool
) -> None:
    try:
        nxt = get_next_sqrt_price_from_output(price, liquidity, amount, zero_for_one)
    except MathOverflowError:
        return
    if zero_for_one:
        exact = price - Fraction(amount * Q96, liquidity)
        assert nxt <= exact
    else:
        exact = Fraction(liquidity * Q96 * price, liquidity * Q96 - amount * price)
        assert nxt >= exact


@given(prices, prices, liquidities)
def test_amount_deltas_bracket_the_exact_value(a: int, b: int, liquidity: int) -> None:
    low, high = min(a, b), max(a, b)
    exact0 = Fraction(liquidity * Q96 * (high - low), high * low)
    exact1 = Fraction(liquidity * (high - low), Q96)
    assert get_amount0_delta(a, b, liquidity, False) <= exact0 <= get_amount0_delta(a, b, liquidity, True)
    assert get_amount1_delta(a, b, liquidity, False) <= exact1 <= get_amount1_delta(a, b, liquidity, True)
    assert get_amount1_delta(a, b, liquidity, True) - get_amount1_delta(a, b, liquidity, False) <= 1


@settings(max_examples=400)
@given(
    prices,
    prices,
    st.integers(0, MAX_UINT128),
    st.integers(-(2**200), 2**200).filter(lambda v: v != 0),
    st.integers(0, FEE_DENOMINATOR - 1),
)
def test_swap_step_rounds_in_the_pools_favour(
    current: int, target: int, liquidity: int, remaining: int, fee: int
) -> None:
    try:
        step = compute_swap_step(current, target, liquidity, remaining, fee)
    except MathOverflowError:
        return
    zero_for_one = current >= target
    # The price moves toward the target and never past it.
    if zero_for_one:
        assert target <= step.sqrt_price_next_x96 <= current
    else:
        assert current <= step.sqrt_price_next_x96 <= target
    assert step.amount_in >= 0 and step.amount_out >= 0 and step.fee_amount >= 0
    if remaining > 0:
        assert step.amount_in + step.fee_amount <= remaining  # never takes more than offered
    else:
        assert step.amount_out <= -remaining  # never pays more than asked
    if step.sqrt_price_next_x96 != target:  # stopped early: the amount is used up
        if remaining > 0:
            assert step.amount_in + step.fee_amount == remaining
        else:
            assert step.amount_out == -remaining
    # Input rounded up and output rounded down against the exact deltas over the step.
    nxt = step.sqrt_price_next_x96
    if nxt != current and liquidity:
        low, high = min(current, nxt), max(current, nxt)
        exact0 = Fraction(liquidity * Q96 * (high - low), high * low)
        exact1 = Fraction(liquidity * (high - low), Q96)
        exact_in, exact_out = (exact0, exact1) if zero_for_one else (exact1, exact0)
        assert step.amount_in >= exact_in
        assert step.amount_out <= exact_out
    # The fee is at least the fee rate of the input.
    if fee and step.amount_in:
        assert Fraction(step.fee_amount, step.amount_in + step.fee_amount) >= Fraction(fee, FEE_DENOMINATOR) or (
            remaining > 0 and step.sqrt_price_next_x96 != target
        )


def test_algebra_state_walks_initialized_ticks_and_refuses_limit_orders() -> None:
    from dexes.algebra.pool import AlgebraPoolState, UnsupportedPoolError
    from dexes.uniswap_v3.events import MintEvent

    state = AlgebraPoolState(sqrt_price_x96=get_sqrt_ratio_at_tick(5), tick=5, liquidity=0)
    state.apply_mint(-120, 60, 10**18)
    state.apply_mint(-60000, 60000, 10**18)
    assert state.next_initialized_tick(5, True) == (-120, True)
    assert state.next_initialized_tick(5, False) == (60, True)
    assert state.next_initialized_tick(-60001, True) == (MIN_TICK, True)
    assert state.next_initialized_tick(60000, False) == (MAX_TICK, True)
    assert state.swap(True, 10**15).ticks_crossed == 0
    state.apply_burn(-120, 60, 10**18)
    assert state.sorted_ticks == [-60000, 60000] and state.liquidity == 10**18
    state.apply_event(MintEvent("0xpool", "0xs", "0xo", 120, 120, 10**18, 0, 1))
    with pytest.raises(UnsupportedPoolError):
        state.swap(True, 10**15)


def test_algebra_v1_walks_the_bitmap_like_uniswap() -> None:
    from dexes.algebra.pool import AlgebraV1PoolState

    state = AlgebraV1PoolState(sqrt_price_x96=get_sqrt_ratio_at_tick(5), tick=5, liquidity=0)
    state.apply_mint(-60000, 60000, 10**18)
    assert state.tick_bitmap and not state.sorted_ticks
    # No initialized tick in the current word (compressed 0..255 = ticks 0..15300): stop at its edge.
    assert state.next_initialized_tick(5, False) == (15300, False)
    assert state.next_initialized_tick(5, True) == (0, False)
    result = state.swap(False, 10**30, get_sqrt_ratio_at_tick(40000))
    assert result.steps == 3 and result.ticks_crossed == 0  # stops at two word edges first
