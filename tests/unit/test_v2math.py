from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dexes.uniswap_v2.swap_math import effective_mid_price, get_amount_in, get_amount_out, mid_price, mid_price_scaled

reserves = st.integers(min_value=1, max_value=10**30)
fees = st.sampled_from([0, 10, 20, 25, 30, 100, 9999])


def test_amount_out_matches_pancakeswap_formula_at_25_bps() -> None:
    # 1 token into a 100/200 pool at 0.25%: 9975*200 / (100*10000 + 9975) = 1.975.. → 1
    assert get_amount_out(1, 100, 200, 25) == 1
    assert get_amount_out(10**18, 10**21, 2 * 10**21, 25) == (10**18 * 9975 * 2 * 10**21) // (
        10**21 * 10000 + 10**18 * 9975
    )


def test_amount_out_of_zero_is_zero() -> None:
    assert get_amount_out(0, 10, 10, 30) == 0


@pytest.mark.parametrize(
    "args",
    [(-1, 10, 10, 30), (1, 0, 10, 30), (1, 10, 0, 30), (1, -5, 10, 30), (1, 10, 10, -1), (1, 10, 10, 10000)],
)
def test_amount_out_rejects_invalid_input(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        get_amount_out(*args)


@pytest.mark.parametrize("args", [(0, 10, 10, 30), (10, 10, 10, 30), (11, 10, 10, 30), (1, 0, 10, 30)])
def test_amount_in_rejects_invalid_input(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        get_amount_in(*args)


@given(amount_in=st.integers(min_value=0, max_value=10**30), reserve_in=reserves, reserve_out=reserves, fee=fees)
def test_amount_out_is_floor_of_exact_rational(amount_in: int, reserve_in: int, reserve_out: int, fee: int) -> None:
    exact = Fraction(amount_in * (10000 - fee) * reserve_out, reserve_in * 10000 + amount_in * (10000 - fee))
    out = get_amount_out(amount_in, reserve_in, reserve_out, fee)
    assert out == exact.__floor__()
    assert 0 <= out < reserve_out


@given(reserve_in=reserves, reserve_out=st.integers(min_value=2, max_value=10**30), fee=fees, data=st.data())
def test_amount_in_buys_at_least_the_requested_output(reserve_in: int, reserve_out: int, fee: int, data) -> None:
    amount_out = data.draw(st.integers(min_value=1, max_value=reserve_out - 1))
    amount_in = get_amount_in(amount_out, reserve_in, reserve_out, fee)
    assert get_amount_out(amount_in, reserve_in, reserve_out, fee) >= amount_out
    # and it is the router's formula: never more than 1 above the minimal input
    if amount_in > 2:
        assert get_amount_out(amount_in - 2, reserve_in, reserve_out, fee) < amount_out


@given(
    a=st.integers(min_value=0, max_value=10**24),
    b=st.integers(min_value=0, max_value=10**24),
    reserve_in=reserves,
    reserve_out=reserves,
    fee=fees,
)
def test_amount_out_is_monotone(a: int, b: int, reserve_in: int, reserve_out: int, fee: int) -> None:
    low, high = sorted((a, b))
    assert get_amount_out(low, reserve_in, reserve_out, fee) <= get_amount_out(high, reserve_in, reserve_out, fee)


def test_mid_prices() -> None:
    assert mid_price(100, 250) == Fraction(5, 2)
    assert effective_mid_price(100, 250, 30) == Fraction(5, 2) * Fraction(9970, 10000)
    # 1 WETH (18) = 2000 USDC (6): reserves 10 WETH / 20,000 USDC
    assert mid_price_scaled(10 * 10**18, 20_000 * 10**6, 18, 6) == 2000
    with pytest.raises(ValueError):
        mid_price(0, 1)
