from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chains.pricing import PoolReserves, PriceBook

E18 = 10**18
E6 = 10**6

# Polygon-like: 6-decimal stables, WBTC with 8.
DECIMALS = {"USDC": 6, "USDT": 6, "WPOL": 18, "WETH": 18, "WBTC": 8, "X": 18, "Y": 9, "Z": 18}


def book(*pools: PoolReserves, **kwargs) -> PriceBook:
    return PriceBook(
        decimals=DECIMALS,
        stable_tokens=["USDC", "USDT"],
        wrapped_native="WPOL",
        base_tokens=["WPOL", "WETH", "USDC", "USDT"],
        pools=pools,
        **kwargs,
    )


def test_stable_is_one_dollar_and_decimals_are_respected() -> None:
    prices = book(
        PoolReserves("p1", "WBTC", "USDC", 10 * 10**8, 600_000 * E6),  # 60,000 USD per WBTC
        PoolReserves("p2", "USDT", "WPOL", 50_000 * E6, 100_000 * E18),  # 0.5 USD per POL
    )
    assert prices.price_usd("USDC") == 1
    assert prices.price_usd("WBTC") == Decimal(60_000)
    assert prices.native_price_usd() == Decimal("0.5")
    assert prices.amount_to_usd("WBTC", 5 * 10**7) == Decimal(30_000)  # 0.5 WBTC
    assert prices.amount_to_usd("USDC", 1_500_000) == Decimal("1.5")
    assert prices.amount_to_native("WBTC", 10**8) == Decimal(120_000)
    assert prices.price_native("WBTC") == Decimal(120_000)


def test_deepest_stable_pool_wins() -> None:
    prices = book(
        PoolReserves("shallow", "X", "USDC", 10 * E18, 50 * E6),  # 5 USD, 50 USD deep
        PoolReserves("deep", "USDT", "X", 1_000_000 * E6, 500_000 * E18),  # 2 USD, 1M USD deep
    )
    assert prices.price_usd("X") == 2
    assert prices.priced_via("X").pool == "deep"


def test_falls_back_to_native_then_to_a_base_token() -> None:
    prices = book(
        PoolReserves("pol", "WPOL", "USDC", 1000 * E18, 500 * E6),  # POL = 0.5
        PoolReserves("x", "X", "WPOL", 100 * E18, 400 * E18),  # X = 4 POL = 2 USD
        PoolReserves("eth", "WETH", "WPOL", 1 * E18, 6000 * E18),  # WETH = 3000 USD via POL
        PoolReserves("y", "Y", "WETH", 1000 * 10**9, 1 * E18),  # Y = 0.001 WETH = 3 USD
    )
    assert prices.price_usd("X") == 2
    assert prices.price_usd("WETH") == 3000
    assert prices.price_usd("Y") == 3
    assert prices.priced_via("Y").quote == "WETH"


def test_unpriceable_tokens_are_none() -> None:
    prices = book(PoolReserves("xz", "X", "Z", E18, E18))
    assert prices.price_usd("X") is None
    assert prices.native_price_usd() is None
    assert prices.amount_to_usd("X", E18) is None
    assert prices.price_usd("UNKNOWN") is None


def test_dust_pools_are_ignored_below_min_liquidity() -> None:
    pools = (
        PoolReserves("dust", "X", "USDC", 1 * E18, 100 * E6),  # 100 USD
        PoolReserves("pol", "WPOL", "USDC", 1_000_000 * E18, 500_000 * E6),
        PoolReserves("x", "X", "WPOL", 1000 * E18, 4000 * E18),  # 2 USD, 2000 USD deep
    )
    assert book(*pools).price_usd("X") == 100
    assert book(*pools, min_liquidity_usd=1000).price_usd("X") == 2


def test_updates_reprice_dependent_tokens() -> None:
    prices = book(
        PoolReserves("pol", "WPOL", "USDC", 1000 * E18, 500 * E6),
        PoolReserves("x", "X", "WPOL", 100 * E18, 400 * E18),
    )
    assert prices.price_usd("X") == 2
    prices.update_reserves("pol", 1000 * E18, 1000 * E6)  # POL doubles
    assert prices.native_price_usd() == 1
    assert prices.price_usd("X") == 4
    prices.update_reserves("x", 100 * E18, 100 * E18)
    assert prices.price_usd("X") == 1
    prices.add_pool(PoolReserves("xs", "X", "USDT", 10 * E18, 70 * E6))
    assert prices.price_usd("X") == 7  # a stable pool now exists: preferred over native


def test_usd_per_raw_unit_for_ranking() -> None:
    prices = book(PoolReserves("p1", "WBTC", "USDC", 10 * 10**8, 600_000 * E6))
    values = prices.usd_per_raw_unit()
    assert values["WBTC"] == pytest.approx(60_000 / 10**8)
    assert values["USDC"] == pytest.approx(1 / 10**6)


# --------------------------------------------------------------------------- incremental re-pricing
# After any sequence of reserve updates and reads, the book prices exactly like one built fresh from the
# same reserves (update_reserves re-prices only what a moved pool can change).

H_STABLES = ("s1", "s2")
H_NATIVE = "w"
H_BASES = ("w", "s1", "s2", "x")
H_OTHERS = ("a", "b", "c")
H_TOKENS = (*H_STABLES, H_NATIVE, "x", *H_OTHERS)
H_DECIMALS = {"s1": 6, "s2": 18, "w": 18, "x": 8, "a": 18, "b": 0, "c": 12}
H_PAIRS = list(itertools.combinations(H_TOKENS, 2))

# Coarse multiples make depths close and tie often (the tricky cases), plus anything at all.
reserve = st.one_of(st.integers(min_value=0, max_value=12).map(lambda n: n * 10**20), st.integers(0, 10**24))
pool_spec = st.tuples(st.sampled_from(range(len(H_PAIRS))), reserve, reserve)


def _fresh_book(pools: dict[str, PoolReserves]) -> PriceBook:
    return PriceBook(
        decimals=H_DECIMALS,
        stable_tokens=H_STABLES,
        wrapped_native=H_NATIVE,
        base_tokens=H_BASES,
        min_liquidity_usd=5,  # the floor takes part in the ranking
        pools=pools.values(),
    )


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(pool_spec, min_size=1, max_size=12),
    blocks=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(min_value=0, max_value=11), reserve, reserve), max_size=4),
            st.lists(st.sampled_from(H_TOKENS), max_size=4),  # tokens read after the block (fills caches)
        ),
        max_size=6,
    ),
)
def test_incremental_repricing_equals_a_fresh_book(
    specs: list[tuple[int, int, int]], blocks: list[tuple[list[tuple[int, int, int]], list[str]]]
) -> None:
    pools = {f"p{i}": PoolReserves(f"p{i}", *H_PAIRS[pair], r0, r1) for i, (pair, r0, r1) in enumerate(specs)}
    incremental = _fresh_book(pools)
    for token in H_TOKENS:
        incremental.price_usd(token)
    for updates, reads in blocks:
        for index, r0, r1 in updates:
            address = f"p{index % len(pools)}"
            pools[address] = PoolReserves(address, pools[address].token0, pools[address].token1, r0, r1)
            incremental.update_reserves(address, r0, r1)
        for token in reads:
            incremental.price_usd(token)
        fresh = _fresh_book(pools)
        assert {t: incremental.price_usd(t) for t in H_TOKENS} == {t: fresh.price_usd(t) for t in H_TOKENS}
