"""Reads for opportunities and for the scanner's in-memory market."""

from __future__ import annotations

from dataclasses import dataclass

from chains.models import ConcentratedPoolState, Pool, Token
from chains.v3pools import ClStateRead, cl_state_from_values
from dexes.families import UNISWAP_V2


@dataclass(frozen=True, slots=True)
class TokenRow:
    address: str
    symbol: str
    decimals: int | None
    fee_on_transfer: bool


@dataclass(frozen=True, slots=True)
class PoolRow:
    id: int
    address: str
    dex: str
    fee_bps: int | None
    token0: str
    token1: str
    reserve0: int
    reserve1: int
    last_block: int | None
    fee_per_pair: bool = False  # the DEX charges per pair (Biswap): fee_bps is the pair's own, once read
    fee_read_block: int | None = None  # block at which the pair's own fee was read (None: never)
    venue: str = UNISWAP_V2  # the DEX's protocol family


def scanner_tokens(*, chain_id: int) -> dict[str, TokenRow]:
    """Every known token of a chain by address."""
    return {
        address: TokenRow(address, symbol, decimals, fee_on_transfer)
        for address, symbol, decimals, fee_on_transfer in Token.objects.filter(chain_id=chain_id).values_list(
            "address", "symbol", "decimals", "fee_on_transfer"
        )
    }


def scanner_pools(*, chain_id: int, after_id: int = 0) -> list[PoolRow]:
    """Pools of a chain with id > after_id (all by default), with token addresses and fee, by id.

    ``fee_bps`` is what a swap is charged: the pair's own fee where its DEX has per-pair fees and it was
    read (``chains.fees``), else the DEX's fee (None: unknown DEX).
    """
    rows = (
        Pool.objects.filter(chain_id=chain_id, id__gt=after_id)
        .order_by("id")
        .values_list(
            "id", "address", "dex__name", "dex__fee_bps", "token0__address", "token1__address", "reserve0", "reserve1",
            "last_block", "dex__fee_per_pair", "fee_bps", "fee_read_block", "dex__family",
        )
    )  # fmt: skip
    # values_list bypasses from_db_value on some backends for expressions; RawAmountField columns go through it.
    return [
        PoolRow(
            pk,
            address,
            dex or "",
            pool_fee if per_pair and pool_fee is not None else fee,
            t0,
            t1,
            int(r0),
            int(r1),
            last_block,
            bool(per_pair),
            fee_read if per_pair else None,
            family or UNISWAP_V2,
        )
        for pk, address, dex, fee, t0, t1, r0, r1, last_block, per_pair, pool_fee, fee_read, family in rows
    ]


def scanner_cl_states(*, chain_id: int, after_id: int = 0) -> dict[int, ClStateRead]:
    """Stored concentrated-liquidity states of a chain's pools with id > after_id: pool id -> state and the
    tick range it knows (None: all)."""
    rows = ConcentratedPoolState.objects.filter(pool__chain_id=chain_id, pool_id__gt=after_id).values_list(
        "pool_id", "pool__dex__family", "sqrt_price_x96", "tick", "liquidity", "fee", "tick_spacing", "ticks",
        "has_limit_orders", "known_tick_lower", "known_tick_upper",
    )  # fmt: skip
    return {
        pk: ClStateRead(
            cl_state_from_values(
                family=family,
                sqrt_price_x96=int(price),
                tick=tick,
                liquidity=int(liquidity),
                fee=fee,
                tick_spacing=spacing,
                ticks=ticks or {},
                has_limit_orders=limit_orders,
            ),
            None if lower is None or upper is None else (lower, upper),
        )
        for pk, family, price, tick, liquidity, fee, spacing, ticks, limit_orders, lower, upper in rows
        if family
    }
