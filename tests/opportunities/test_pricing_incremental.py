"""The scanner's incremental price book prices exactly like a fresh ``chains.pricing.PriceBook``."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from chains.pricing import PoolReserves, PriceBook
from opportunities.scanner import _ScannerPriceBook

STABLES = ("s1", "s2")
NATIVE = "w"
BASES = ("w", "s1", "s2", "x")
OTHERS = ("a", "b", "c")
TOKENS = (*STABLES, NATIVE, "x", *OTHERS)
DECIMALS = {"s1": 6, "s2": 18, "w": 18, "x": 8, "a": 18, "b": 0, "c": 12}
PAIRS = list(itertools.combinations(TOKENS, 2))

# Coarse multiples make depths close and tie often (the tricky cases), plus anything at all.
reserve = st.one_of(st.integers(min_value=0, max_value=12).map(lambda n: n * 10**20), st.integers(0, 10**24))
pool_spec = st.tuples(st.sampled_from(range(len(PAIRS))), reserve, reserve)


def _book(cls: type[PriceBook], pools: dict[str, PoolReserves]) -> PriceBook:
    return cls(
        decimals=DECIMALS,
        stable_tokens=STABLES,
        wrapped_native=NATIVE,
        base_tokens=BASES,
        min_liquidity_usd=5,
        pools=pools.values(),
    )


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(pool_spec, min_size=1, max_size=12),
    blocks=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(min_value=0, max_value=11), reserve, reserve), max_size=4),
            st.lists(st.sampled_from(TOKENS), max_size=4),  # tokens read after the block (fills caches)
        ),
        max_size=6,
    ),
)
def test_incremental_prices_equal_fresh_prices(
    specs: list[tuple[int, int, int]], blocks: list[tuple[list[tuple[int, int, int]], list[str]]]
) -> None:
    pools = {f"p{i}": PoolReserves(f"p{i}", *PAIRS[pair], r0, r1) for i, (pair, r0, r1) in enumerate(specs)}
    incremental = _book(_ScannerPriceBook, pools)
    for token in TOKENS:
        incremental.price_usd(token)
    for updates, reads in blocks:
        for index, r0, r1 in updates:
            address = f"p{index % len(pools)}"
            pools[address] = PoolReserves(address, pools[address].token0, pools[address].token1, r0, r1)
            incremental.update_reserves(address, r0, r1)
        for token in reads:
            incremental.price_usd(token)
        fresh = _book(PriceBook, pools)
        assert {t: incremental.price_usd(t) for t in TOKENS} == {t: fresh.price_usd(t) for t in TOKENS}
