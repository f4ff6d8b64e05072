"""Rolling leaderboard windows: running totals per board and key over the last 1d/7d/30d of buckets.

A window holds the buckets whose start is at or after its ``WindowState.start``. Writers add their
bucket deltas to it (inside the write transaction, like the buckets); ``window_roll`` moves the
start forward and subtracts the buckets that left, in one statement, under a row lock on the
state so a concurrent writer cannot add to a bucket while it is being subtracted. Exactly the
bucket sums over the window, so a rebuild (``window_reset``) gives the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction

from api.aggregates import Deltas, day_start, hour_start, upsert_add
from api.models import BotBucket, ContractBucket, PoolBucket, Span, TokenBucket, WindowState, WindowTotal

WINDOWS: dict[str, tuple[str, timedelta]] = {
    "1d": (Span.HOUR, timedelta(days=1)),
    "7d": (Span.DAY, timedelta(days=7)),
    "30d": (Span.DAY, timedelta(days=30)),
}
# bucket model -> (board, key column, {window column: bucket column})
BOARDS: dict[type, tuple[str, str, dict[str, str]]] = {
    BotBucket: (
        "bot",
        "sender",
        {
            "tx_count": "tx_count",
            "gross_usd": "gross_usd",
            "gas_usd": "gas_usd",
            "net_usd": "net_usd",
            "builder_native": "builder_native",
        },
    ),
    ContractBucket: (
        "contract",
        "contract",
        {
            "tx_count": "tx_count",
            "gross_usd": "gross_usd",
            "gas_usd": "gas_usd",
            "net_usd": "net_usd",
            "builder_native": "builder_native",
        },
    ),
    PoolBucket: ("pool", "pool", {"tx_count": "tx_count", "gross_usd": "tx_gross_usd", "opp_count": "opp_count"}),
    TokenBucket: ("token", "token", {"tx_count": "tx_count", "gross_usd": "tx_gross_usd"}),
}
WINDOW_KEYS = ("period", "board", "chain_id", "key")


def window_start(period: str, *, now: datetime | None = None) -> datetime:
    span, length = WINDOWS[period]
    moment = (now or datetime.now(UTC)) - length
    return hour_start(moment) if span == Span.HOUR else day_start(moment)


def _state(period: str, *, lock: bool) -> WindowState | None:
    """The window's state row; ``lock``: FOR UPDATE (the roll) — writers take it FOR SHARE (``_start_shared``)."""
    qs = WindowState.objects.filter(period=period)
    return (qs.select_for_update() if lock else qs).first()


def _start_shared(period: str) -> datetime | None:
    """The window's start, locked FOR SHARE on PostgreSQL: writers do not wait for each other, only for a roll."""
    if connection.vendor != "postgresql":
        state = _state(period, lock=False)
        return None if state is None else state.start
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT start FROM {WindowState._meta.db_table} WHERE period = %s FOR SHARE", [period])
        row = cursor.fetchone()
    return None if row is None else row[0]


def windows_add(deltas: Deltas) -> None:
    """Add bucket deltas to every window that holds their bucket (call inside the write transaction)."""
    for period, (span, _) in WINDOWS.items():
        start = _start_shared(period)
        if start is None:
            continue  # not built yet: window_roll will build it from the buckets, these included
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for model, (board, _key, columns) in BOARDS.items():
            for (chain_id, bucket_span, bucket_start, key), values in deltas[model].items():
                if bucket_span != span or bucket_start < start:
                    continue
                row = rows.setdefault((period, board, chain_id, key), dict.fromkeys(_all_columns(), 0))
                for window_column, bucket_column in columns.items():
                    row[window_column] += values.get(bucket_column, 0)
        upsert_add(WindowTotal, WINDOW_KEYS, _all_columns(), rows)


def _all_columns() -> tuple[str, ...]:
    return ("tx_count", "gross_usd", "gas_usd", "net_usd", "builder_native", "opp_count")


@transaction.atomic
def window_roll(period: str, *, now: datetime | None = None) -> None:
    """Move the window's start to now: subtract the buckets that left it (or build it the first time)."""
    span, length = WINDOWS[period]
    new_start = window_start(period, now=now)
    state = _state(period, lock=True)
    if state is not None and state.start >= new_start:
        return
    if state is None or state.start + length <= new_start:
        window_reset(period, now=now)
        return
    _sum_buckets_into(period, span, since=state.start, until=new_start, sign=-1)
    WindowTotal.objects.filter(period=period, tx_count=0, opp_count=0).delete()
    state.start = new_start
    state.save(update_fields=["start"])


@transaction.atomic
def window_reset(period: str, *, now: datetime | None = None) -> None:
    """Rebuild one window from the buckets."""
    span, _ = WINDOWS[period]
    start = window_start(period, now=now)
    WindowTotal.objects.filter(period=period).delete()
    _sum_buckets_into(period, span, since=start, until=None, sign=1)
    WindowState.objects.update_or_create(period=period, defaults={"start": start})


def windows_reset(*, now: datetime | None = None) -> None:
    for period in WINDOWS:
        window_reset(period, now=now)


def _sum_buckets_into(period: str, span: str, *, since: datetime, until: datetime | None, sign: int) -> None:
    """INSERT … SELECT sum(…) GROUP BY key … ON CONFLICT add: the buckets in [since, until) into the window."""
    quote = connection.ops.quote_name
    table = quote(WindowTotal._meta.db_table)
    columns = _all_columns()
    for model, (board, key, mapping) in BOARDS.items():
        source = quote(model._meta.db_table)  # type: ignore[attr-defined]
        select = ", ".join(
            f"{'-' if sign < 0 else ''}sum({quote(mapping[c])})" if c in mapping else "0" for c in columns
        )
        where = f"span = %s AND start >= %s{' AND start < %s' if until is not None else ''}"
        params: list[Any] = [period, board, span, connection.ops.adapt_datetimefield_value(since)]
        if until is not None:
            params.append(connection.ops.adapt_datetimefield_value(until))
        sql = (
            f"INSERT INTO {table} (period, board, chain_id, {quote('key')}, {', '.join(columns)}) "
            f"SELECT %s, %s, chain_id, {quote(key)}, {select} FROM {source} WHERE {where} "
            f"GROUP BY chain_id, {quote(key)} "
            f"ON CONFLICT (period, board, chain_id, {quote('key')}) DO UPDATE SET "
            + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def window_rows(
    *, period: str, board: str, chain_id: int | None, order: Iterable[str], limit: int
) -> list[WindowTotal]:
    """The top rows of a window (rolled forward first)."""
    window_roll(period)
    qs = WindowTotal.objects.filter(period=period, board=board, tx_count__gt=0)
    if chain_id is not None:
        qs = qs.filter(chain_id=chain_id)
    return list(qs.order_by(*order)[:limit])
