"""Reads behind stats/, leaderboard/, search/ and chains/: from the bucket tables, never full scans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum

from api.addresses import BLOCK_RE, HASH_RE, SYMBOL_RE, checksum, is_address
from api.aggregates import day_start, hour_start
from api.links import newest_first, transactions_through_pool
from api.models import BotBucket, ChainBucket, ContractBucket, PoolBucket, Span, TokenBucket
from api.windows import WINDOWS, window_rows, window_start
from arbmonitor.timeutil import utc_isoformat
from chains.models import Chain, Pool, ScanCursor, Token
from opportunities.models import Opportunity
from opportunities.serializers import opportunity_data
from transactions.models import ArbitrageTransaction
from transactions.serializers import transaction_data

PERIODS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
SEARCH_ROWS = 20


def period_window(period: str, *, now: datetime | None = None, daily: bool = False) -> tuple[str, datetime]:
    """(span, since) of a period: whole buckets from the one holding ``now - period`` up to now.

    Hourly buckets for stats and the short leaderboards, daily ones for 7d/30d leaderboards, so a
    window covers at least the period and at most one bucket more.
    """
    now = now or datetime.now(UTC)
    if daily:
        return Span.DAY, day_start(now - PERIODS[period])
    return Span.HOUR, hour_start(now - PERIODS[period])


def _f(value: Decimal | int | None) -> float:
    return float(value or 0)


def chain_stats(*, period: str, chain_id: int | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per chain: transactions, gross, gas, builder payments, net; opportunities and the share captured."""
    span, since = period_window(period, now=now)
    rows = ChainBucket.objects.filter(span=span, start__gte=since)
    if chain_id is not None:
        rows = rows.filter(chain_id=chain_id)
    totals = rows.values("chain_id").annotate(
        tx=Sum("tx_count"),
        gross=Sum("gross_usd"),
        gas=Sum("gas_usd"),
        net=Sum("net_usd"),
        builder=Sum("builder_native"),
        measured=Sum("builder_measured"),
        opps=Sum("opp_count"),
        captured=Sum("opp_captured"),
        opp_profit=Sum("opp_profit_usd"),
    )
    by_chain: dict[int, dict[str, Any]] = {row["chain_id"]: dict(row) for row in totals}
    chains = Chain.objects.all() if chain_id is None else Chain.objects.filter(chain_id=chain_id)
    result = []
    for chain in chains:
        row: dict[str, Any] = by_chain.get(chain.chain_id, {})
        opps = int(row.get("opps") or 0)
        captured = int(row.get("captured") or 0)
        result.append(
            {
                "chain_id": chain.chain_id,
                "period": period,
                "since": utc_isoformat(since),
                "transaction_count": int(row.get("tx") or 0),
                "profit_gross_usd": _f(row.get("gross")),
                "gas_cost_usd": _f(row.get("gas")),
                "builder_payments_native": _f(row.get("builder")),
                "builder_payments_measured": int(row.get("measured") or 0),
                "profit_net_usd": _f(row.get("net")),
                "opportunity_count": opps,
                "opportunity_profit_usd": _f(row.get("opp_profit")),
                "captured_count": captured,
                "captured_share": round(captured / opps, 6) if opps else None,
            }
        )
    return result


def profit_series(*, chain_id: int, period: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Net profit and count per bucket (hourly up to 7d, daily for 30d), oldest first: the chart's data."""
    daily = period == "30d"
    span, since = period_window(period, now=now, daily=daily)
    rows = ChainBucket.objects.filter(chain_id=chain_id, span=span, start__gte=since).order_by("start")
    return [
        {"start": utc_isoformat(r.start), "profit_net_usd": float(r.net_usd), "transaction_count": r.tx_count}
        for r in rows
    ]


def _board_rows(
    *, period: str, board: str, chain_id: int | None, limit: int, now: datetime | None
) -> tuple[datetime, list[dict[str, Any]]]:
    """Top rows of one board: from the rolling window (1d/7d/30d) or the hour buckets (1h)."""
    by_profit = board in ("bot", "contract")
    order = ["-net_usd", "key"] if by_profit else ["-tx_count", "-gross_usd", "key"]
    if period in WINDOWS:
        since = window_start(period, now=now)
        rows = window_rows(period=period, board=board, chain_id=chain_id, order=order, limit=limit)
        return since, [
            {
                "chain_id": r.chain_id,
                "key": r.key,
                "tx": r.tx_count,
                "gross": r.gross_usd,
                "gas": r.gas_usd,
                "net": r.net_usd,
                "builder": r.builder_native,
                "opps": r.opp_count,
            }
            for r in rows
        ]
    span, since = period_window(period, now=now)
    model: Any
    model, key = {
        "bot": (BotBucket, "sender"),
        "contract": (ContractBucket, "contract"),
        "pool": (PoolBucket, "pool"),
        "token": (TokenBucket, "token"),
    }[board]
    scope = Q(span=span, start__gte=since) & (Q(chain_id=chain_id) if chain_id is not None else Q())
    sums: dict[str, Any] = {"tx": Sum("tx_count")}
    if by_profit:
        sums.update(gross=Sum("gross_usd"), gas=Sum("gas_usd"), net=Sum("net_usd"), builder=Sum("builder_native"))
        ordering = ["-net", key]
    else:
        sums.update(gross=Sum("tx_gross_usd"))
        if board == "pool":
            sums["opps"] = Sum("opp_count")
        ordering = ["-tx", "-gross", key]
    found = (model.objects.filter(scope).values("chain_id", key).annotate(**sums).filter(tx__gt=0).order_by(*ordering))[
        :limit
    ]
    return since, [{**r, "key": r[key]} for r in found]


def leaderboard(
    *, period: str, chain_id: int | None = None, limit: int = 10, now: datetime | None = None
) -> dict[str, Any]:
    """Top bots by net profit, ranked by sending address and by the contract they called; top pools and
    tokens by arbitrage transactions through them."""
    since, bots = _board_rows(period=period, board="bot", chain_id=chain_id, limit=limit, now=now)
    _, contracts = _board_rows(period=period, board="contract", chain_id=chain_id, limit=limit, now=now)
    _, pools = _board_rows(period=period, board="pool", chain_id=chain_id, limit=limit, now=now)
    _, tokens = _board_rows(period=period, board="token", chain_id=chain_id, limit=limit, now=now)
    pool_info = {
        (p.chain_id, p.address): p
        for p in Pool.objects.filter(address__in=[r["key"] for r in pools]).select_related("dex", "token0", "token1")
    }
    token_info = {(t.chain_id, t.address): t for t in Token.objects.filter(address__in=[r["key"] for r in tokens])}
    return {
        "period": period,
        "since": utc_isoformat(since),
        "bots": [
            {
                "chain_id": r["chain_id"],
                "sender": r["key"],
                "transaction_count": int(r["tx"]),
                "profit_gross_usd": _f(r["gross"]),
                "gas_cost_usd": _f(r["gas"]),
                "builder_payments_native": _f(r["builder"]),
                "profit_net_usd": _f(r["net"]),
            }
            for r in bots
        ],
        "contracts": [
            {
                "chain_id": r["chain_id"],
                "contract_address": r["key"],
                "transaction_count": int(r["tx"]),
                "profit_gross_usd": _f(r["gross"]),
                "gas_cost_usd": _f(r["gas"]),
                "builder_payments_native": _f(r["builder"]),
                "profit_net_usd": _f(r["net"]),
            }
            for r in contracts
        ],
        "pools": [
            {
                "chain_id": r["chain_id"],
                "pool_address": r["key"],
                "pool_name": _pool_name(pool_info.get((r["chain_id"], r["key"]))),
                "dex": _dex_name(pool_info.get((r["chain_id"], r["key"]))),
                "transaction_count": int(r["tx"]),
                "profit_gross_usd": _f(r["gross"]),
                "opportunity_count": int(r.get("opps") or 0),
            }
            for r in pools
        ],
        "tokens": [
            {
                "chain_id": r["chain_id"],
                "token_address": r["key"],
                "symbol": _symbol(token_info.get((r["chain_id"], r["key"]))),
                "transaction_count": int(r["tx"]),
                "profit_gross_usd": _f(r["gross"]),
            }
            for r in tokens
        ],
    }


def _pool_name(pool: Pool | None) -> str | None:
    return pool.name if pool is not None else None


def _symbol(token: Token | None) -> str | None:
    return token.symbol if token is not None else None


def _dex_name(pool: Pool | None) -> str | None:
    return pool.dex.name if pool is not None and pool.dex is not None else None


def bot_totals(*, sender: str) -> list[dict[str, Any]]:
    """All-time totals of a sending address per chain (daily buckets)."""
    return _profit_totals(BotBucket.objects.filter(sender=sender, span=Span.DAY))


def contract_totals(*, contract: str) -> list[dict[str, Any]]:
    """All-time totals of a called contract per chain, whoever sent its transactions (daily buckets)."""
    return _profit_totals(ContractBucket.objects.filter(contract=contract, span=Span.DAY))


def _profit_totals(buckets: QuerySet[Any]) -> list[dict[str, Any]]:
    rows = (
        buckets.values("chain_id")
        .annotate(
            tx=Sum("tx_count"),
            gross=Sum("gross_usd"),
            gas=Sum("gas_usd"),
            net=Sum("net_usd"),
            builder=Sum("builder_native"),
        )
        .order_by("chain_id")
    )
    return [
        {
            "chain_id": r["chain_id"],
            "transaction_count": int(r["tx"]),
            "profit_gross_usd": _f(r["gross"]),
            "gas_cost_usd": _f(r["gas"]),
            "builder_payments_native": _f(r["builder"]),
            "profit_net_usd": _f(r["net"]),
        }
        for r in rows
        if r["tx"]
    ]


def pool_totals(*, pool: str) -> list[dict[str, Any]]:
    rows = (
        PoolBucket.objects.filter(pool=pool, span=Span.DAY)
        .values("chain_id")
        .annotate(
            tx=Sum("tx_count"), gross=Sum("tx_gross_usd"), opps=Sum("opp_count"), opp_profit=Sum("opp_profit_usd")
        )
        .order_by("chain_id")
    )
    return [
        {
            "chain_id": r["chain_id"],
            "transaction_count": int(r["tx"] or 0),
            "profit_gross_usd": _f(r["gross"]),
            "opportunity_count": int(r["opps"] or 0),
            "opportunity_profit_usd": _f(r["opp_profit"]),
        }
        for r in rows
    ]


def token_totals(*, token: str) -> list[dict[str, Any]]:
    rows = (
        TokenBucket.objects.filter(token=token, span=Span.DAY)
        .values("chain_id")
        .annotate(tx=Sum("tx_count"), gross=Sum("tx_gross_usd"))
        .order_by("chain_id")
    )
    return [
        {"chain_id": r["chain_id"], "transaction_count": int(r["tx"] or 0), "profit_gross_usd": _f(r["gross"])}
        for r in rows
    ]


def transactions_with(*, field: str, value: str, limit: int = SEARCH_ROWS) -> list[dict[str, Any]]:
    """Latest transactions whose JSON list ``field`` holds ``value`` (pools: through their side table)."""
    from api.filters import json_list_has_any, transactions_through

    if field == "pools_involved":
        rows = newest_first(transactions_through_pool(ArbitrageTransaction.objects.all(), value))
    else:
        expected = transactions_through(token=value)
        rows = newest_first(
            ArbitrageTransaction.objects.filter(json_list_has_any(field, [value], expected_rows=expected))
        )
    return [transaction_data(t) for t in rows[:limit]]


def search(q: str) -> dict[str, Any]:
    """What we know about ``q``: a transaction hash, a block number, a pool/token/bot address or a symbol."""
    q = q.strip()
    if HASH_RE.match(q):
        tx_hash = q.lower()
        # Per chain: the unique (chain, tx_hash) index answers each lookup.
        txs = [
            t
            for chain in Chain.objects.values_list("chain_id", flat=True)
            for t in ArbitrageTransaction.objects.filter(chain_id=chain, tx_hash=tx_hash)
        ]
        return {
            "query": q,
            "kind": "transaction",
            "transactions": [transaction_data(t) for t in txs],
            "opportunities_captured": [
                opportunity_data(o) for o in Opportunity.objects.filter(capture_tx_hash=tx_hash)[:SEARCH_ROWS]
            ],
        }
    if BLOCK_RE.match(q):
        block = int(q)
        return {
            "query": q,
            "kind": "block",
            "block_number": block,
            "transactions": [
                transaction_data(t)
                for chain in Chain.objects.values_list("chain_id", flat=True)
                for t in ArbitrageTransaction.objects.filter(chain_id=chain, block_number=block)[:SEARCH_ROWS]
            ],
            "opportunities": [
                opportunity_data(o)
                for chain in Chain.objects.values_list("chain_id", flat=True)
                for o in Opportunity.objects.filter(chain_id=chain, block_number=block)[:SEARCH_ROWS]
            ],
        }
    if is_address(q):
        address = checksum(q)
        pools = list(Pool.objects.filter(address=address).select_related("dex", "token0", "token1"))
        if pools:
            return {
                "query": q,
                "kind": "pool",
                "address": address,
                "pools": [
                    {
                        "chain_id": p.chain_id,
                        "pool_address": p.address,
                        "pool_name": p.name,
                        "dex": _dex_name(p),
                        "token0": p.token0.address,
                        "token1": p.token1.address,
                        "reserve0": str(p.reserve0),
                        "reserve1": str(p.reserve1),
                    }
                    for p in pools
                ],
                "totals": pool_totals(pool=address),
                "opportunities": [
                    opportunity_data(o)
                    for o in Opportunity.objects.filter(pool_id__in=[p.pk for p in pools]).order_by(
                        "-detected_at", "-id"
                    )[:SEARCH_ROWS]
                ],
                "transactions": transactions_with(field="pools_involved", value=address),
            }
        tokens = list(Token.objects.filter(address=address))
        if tokens:
            return {
                "query": q,
                "kind": "token",
                "address": address,
                "tokens": [_token(t) for t in tokens],
                "totals": token_totals(token=address),
                "transactions": transactions_with(field="tokens_involved", value=address),
            }
        return {
            "query": q,
            "kind": "bot",
            "address": address,
            "totals": bot_totals(sender=address),
            "contract_totals": contract_totals(contract=address),
            "transactions": [
                transaction_data(t)
                for t in ArbitrageTransaction.objects.filter(from_address=address).order_by("-detected_at", "-id")[
                    :SEARCH_ROWS
                ]
            ],
            # A bot's contract (the transactions' `to`): its transactions whoever sent them.
            "contract_transactions": [
                transaction_data(t)
                for t in ArbitrageTransaction.objects.filter(contract_address=address).order_by("-detected_at", "-id")[
                    :SEARCH_ROWS
                ]
            ],
            "opportunities_captured": [
                opportunity_data(o)
                for o in Opportunity.objects.filter(captured_by=address).order_by("-detected_at", "-id")[:SEARCH_ROWS]
            ],
        }
    if SYMBOL_RE.match(q):
        tokens = list(Token.objects.filter(symbol__iexact=q)[:SEARCH_ROWS])
        return {
            "query": q,
            "kind": "symbol",
            "tokens": [{**_token(t), "totals": token_totals(token=t.address)} for t in tokens],
        }
    return {"query": q, "kind": "none"}


def _token(t: Token) -> dict[str, Any]:
    return {"chain_id": t.chain_id, "address": t.address, "symbol": t.symbol, "decimals": t.decimals}


def chains_status() -> list[dict[str, Any]]:
    """Per chain: head as last seen, both scan cursors with their lag, the latest stored block's time."""
    cursors: dict[int, list[ScanCursor]] = {}
    for cursor in ScanCursor.objects.all():
        cursors.setdefault(cursor.chain_id, []).append(cursor)
    result = []
    for chain in Chain.objects.all():
        own = cursors.get(chain.chain_id, [])
        heads = [c.head_block_number for c in own if c.head_block_number is not None]
        latest = (
            ArbitrageTransaction.objects.filter(chain_id=chain.chain_id)
            .order_by("-block_number")
            .values_list("block_number", "block_timestamp")
            .first()
        )
        result.append(
            {
                "chain_id": chain.chain_id,
                "name": chain.name,
                "native_symbol": chain.native_symbol,
                "enabled": chain.enabled,
                "explorer_url": chain.explorer_url or None,
                "head_block_number": max(heads) if heads else None,
                "cursors": [
                    {
                        "kind": c.kind,
                        "block_number": c.block_number,
                        "head_block_number": c.head_block_number,
                        "lag": c.lag,
                        "updated_at": utc_isoformat(c.updated_at),
                    }
                    for c in own
                ],
                "last_block_number": latest[0] if latest else None,
                "last_block_time": utc_isoformat(latest[1]) if latest else None,
            }
        )
    return result
