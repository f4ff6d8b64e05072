"""USD and native prices from pool reserves alone. Pure: no I/O, no external price API.

Each token is priced through ONE pool, the deepest by liquidity measured in the
quote token (in USD), in this order of preference:

1. against a configured stablecoin (worth exactly 1 USD);
2. against the wrapped native token, itself priced via its deepest stable pool;
3. against another base token one hop further (a base priced by 1 or 2).

Pools shallower than ``min_liquidity_usd`` on the quote side are ignored, so a
dust pool cannot set a price. Prices are ``Decimal`` USD per whole token;
decimals matter (USDC has 6 on Polygon, 18 on BSC; WBTC 8).

``PriceBook`` caches prices and re-prices incrementally: a reserve update only
notes which pools of which tokens moved; on the next read a token is re-priced
only when a moved pool is the one pricing it, or could now out-rank it (same or
better quote tier, deeper), and its dependents are invalidated only when its
price actually changed. A Sync on a WBNB or USDT pool would otherwise re-price
nearly every token of the chain (10,000 pools × 200 changed: ~115 ms → a few
ms per block). Prices always equal a freshly built book's (property-tested).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext

_PRECISION = 40
_MISSING = object()


@dataclass(frozen=True, slots=True)
class PoolReserves:
    """The pool facts pricing needs (raw reserves)."""

    address: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int


@dataclass(frozen=True, slots=True)
class PricedVia:
    """Which pool and quote token set a token's price (for display and debugging)."""

    pool: str
    quote: str
    depth_usd: Decimal


class PriceBook:
    """Token prices of one chain, recomputed lazily for tokens whose pools moved."""

    def __init__(
        self,
        *,
        decimals: Mapping[str, int],
        stable_tokens: Iterable[str],
        wrapped_native: str,
        base_tokens: Iterable[str] = (),
        min_liquidity_usd: Decimal | int = 0,
        pools: Iterable[PoolReserves] = (),
    ) -> None:
        self.decimals: dict[str, int] = dict(decimals)
        self.stable_tokens = frozenset(stable_tokens)
        self.wrapped_native = wrapped_native
        self.base_tokens = tuple(t for t in base_tokens if t not in self.stable_tokens and t != wrapped_native)
        self.min_liquidity_usd = Decimal(min_liquidity_usd)
        self._pools: dict[str, PoolReserves] = {}
        self._pools_of_token: dict[str, set[str]] = {}
        self._cache: dict[str, tuple[Decimal, PricedVia | None] | None] = {}
        self._dependents: dict[str, set[str]] = {}
        self._moved: dict[str, set[str]] = {}  # token -> its pools updated since the last settle()
        for pool in pools:
            self.add_pool(pool)

    # ---- maintenance

    def add_pool(self, pool: PoolReserves) -> None:
        self._pools[pool.address] = pool
        self._pools_of_token.setdefault(pool.token0, set()).add(pool.address)
        self._pools_of_token.setdefault(pool.token1, set()).add(pool.address)
        self._invalidate(pool.token0)
        self._invalidate(pool.token1)

    def update_reserves(self, address: str, reserve0: int, reserve1: int) -> None:
        """Apply a Sync; what it can change is re-priced on the next read (``settle``)."""
        pool = self._pools[address]
        self._pools[address] = PoolReserves(pool.address, pool.token0, pool.token1, reserve0, reserve1)
        for token in (pool.token0, pool.token1):
            if token not in self.stable_tokens:  # 1 USD by definition
                self._moved.setdefault(token, set()).add(address)

    def settle(self) -> None:
        """Apply the reserve moves noted since the last call (reads call it; see the module docstring)."""
        moved, self._moved = self._moved, {}
        for token, pools in moved.items():
            old = self._cache.get(token, _MISSING)
            if old is _MISSING:
                continue  # not priced now: computed fresh when read (and has no live dependents)
            if not self._may_reprice(token, old, pools):  # type: ignore[arg-type]
                continue
            del self._cache[token]
            new = self._entry(token)
            if (old[0] if old else None) != (new[0] if new else None):  # type: ignore[index]
                self._invalidate(token)

    def _tier(self, token: str, quote: str) -> int | None:
        """Preference rank of pricing ``token`` against ``quote`` (0 best); None if never used."""
        if quote in self.stable_tokens:
            return 0
        if token == self.wrapped_native:
            return None
        if quote == self.wrapped_native:
            return 1
        if quote in self.base_tokens and token not in self.base_tokens:
            return 2
        return None

    def _may_reprice(self, token: str, entry: tuple[Decimal, PricedVia | None] | None, pools: set[str]) -> bool:
        """Could a move of ``pools`` change ``token``'s cached price ``entry``?"""
        if entry is None:
            return True  # unpriced: a moved pool may make it priceable
        via = entry[1]
        if via is None:
            return False
        current_tier = self._tier(token, via.quote)
        for address in pools:
            if address == via.pool:
                return True
            pool = self._pools[address]
            quote = pool.token1 if pool.token0 == token else pool.token0
            tier = self._tier(token, quote)
            if tier is None or current_tier is None or tier > current_tier:
                continue
            if tier < current_tier:
                return True
            quote_entry = self._entry(quote)
            if quote_entry is None or quote not in self.decimals:
                continue
            reserve_quote = pool.reserve1 if pool.token0 == token else pool.reserve0
            with localcontext() as context:
                context.prec = _PRECISION
                depth = Decimal(reserve_quote) / (Decimal(10) ** self.decimals[quote]) * quote_entry[0]
            if depth >= via.depth_usd:  # a tie can change the winner: re-price
                return True
        return False

    def set_decimals(self, token: str, decimals: int) -> None:
        self.decimals[token] = decimals
        self._invalidate(token)

    def _invalidate(self, token: str) -> None:
        pending = [token]
        while pending:
            current = pending.pop()
            if self._cache.pop(current, _MISSING) is _MISSING and current != token:
                continue  # already invalid: its dependents were invalidated with it
            pending.extend(self._dependents.pop(current, ()))

    # ---- reads

    def price_usd(self, token: str) -> Decimal | None:
        """USD per whole token, or None when no path to a stablecoin exists."""
        if self._moved:
            self.settle()
        entry = self._entry(token)
        return entry[0] if entry else None

    def priced_via(self, token: str) -> PricedVia | None:
        if self._moved:
            self.settle()
        entry = self._entry(token)
        return entry[1] if entry else None

    def native_price_usd(self) -> Decimal | None:
        return self.price_usd(self.wrapped_native)

    def price_native(self, token: str) -> Decimal | None:
        """Whole native tokens per whole token."""
        usd, native = self.price_usd(token), self.native_price_usd()
        if usd is None or not native:
            return None
        with localcontext() as context:
            context.prec = _PRECISION
            return usd / native

    def amount_to_usd(self, token: str, amount: int) -> Decimal | None:
        """USD value of a raw amount (decimals aware)."""
        price = self.price_usd(token)
        if price is None or token not in self.decimals:
            return None
        with localcontext() as context:
            context.prec = _PRECISION
            return Decimal(amount) * price / (Decimal(10) ** self.decimals[token])

    def amount_to_native(self, token: str, amount: int) -> Decimal | None:
        """Value of a raw amount in whole native tokens (BNB, POL)."""
        usd, native = self.amount_to_usd(token, amount), self.native_price_usd()
        if usd is None or not native:
            return None
        with localcontext() as context:
            context.prec = _PRECISION
            return usd / native

    def usd_per_raw_unit(self) -> dict[str, float]:
        """Float USD per raw unit of every priceable token: ranking values for ``PoolGraph.scan``."""
        values = {}
        for token in self._pools_of_token:
            price = self.price_usd(token)
            if price is not None and token in self.decimals:
                values[token] = float(price) / 10 ** self.decimals[token]
        return values

    # ---- computation

    def _entry(self, token: str) -> tuple[Decimal, PricedVia | None] | None:
        cached = self._cache.get(token, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        entry = self._compute(token)
        self._cache[token] = entry
        return entry

    def _compute(self, token: str) -> tuple[Decimal, PricedVia | None] | None:
        if token in self.stable_tokens:
            return Decimal(1), None
        if token not in self.decimals:
            return None
        tiers: list[tuple[str, ...]] = [tuple(self.stable_tokens)]
        if token != self.wrapped_native:
            tiers.append((self.wrapped_native,))
            if token not in self.base_tokens:
                tiers.append(self.base_tokens)
        for quotes in tiers:
            found = self._deepest_against(token, quotes)
            if found is not None:
                return found
        return None

    def _deepest_against(self, token: str, quotes: Iterable[str]) -> tuple[Decimal, PricedVia] | None:
        quote_set = set(quotes)
        best: tuple[Decimal, PricedVia] | None = None
        with localcontext() as context:
            context.prec = _PRECISION
            for address in self._pools_of_token.get(token, ()):
                pool = self._pools[address]
                quote = pool.token1 if pool.token0 == token else pool.token0
                if quote not in quote_set:
                    continue
                # Any move of a candidate quote's price can change which pool is deepest.
                self._dependents.setdefault(quote, set()).add(token)
                if quote not in self.decimals:
                    continue
                reserve_token, reserve_quote = (
                    (pool.reserve0, pool.reserve1) if pool.token0 == token else (pool.reserve1, pool.reserve0)
                )
                if reserve_token <= 0 or reserve_quote <= 0:
                    continue
                quote_entry = self._entry(quote)
                if quote_entry is None:
                    continue
                quote_price = quote_entry[0]
                quote_whole = Decimal(reserve_quote) / (Decimal(10) ** self.decimals[quote])
                depth = quote_whole * quote_price
                if depth < self.min_liquidity_usd or (best is not None and depth <= best[1].depth_usd):
                    continue
                token_whole = Decimal(reserve_token) / (Decimal(10) ** self.decimals[token])
                best = (quote_whole / token_whole * quote_price, PricedVia(address, quote, depth))
        return best
