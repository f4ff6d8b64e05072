"""Maintain the bucketed aggregates (``api.models``) from the detections, and rebuild them.

Guarantee: each transaction/opportunity row is added exactly once, inside the transaction that
created it (``detections_written`` is sent there with only the rows created now), and subtracted
inside the reorg rollback's transaction that deletes it. A failure in here rolls the whole write
back, so the rows and the aggregates never disagree. Captured counts are the exception: a capture
is an UPDATE of an older opportunity row, so ``opp_captured`` is recounted from the rows for every
hour a write can have touched (the capture window), not incremented.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum

from api.models import BotBucket, ChainBucket, ContractBucket, PoolBucket, Span, TokenBucket
from opportunities.models import Opportunity
from transactions.models import ArbitrageTransaction

WEI = Decimal(10) ** 18
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Per table: the key columns after (chain_id, span, start) and the columns a delta adds to.
TABLES: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {
    ChainBucket: (
        (),
        (
            "tx_count",
            "gross_usd",
            "gas_usd",
            "net_usd",
            "builder_native",
            "builder_measured",
            "opp_count",
            "opp_captured",
            "opp_profit_usd",
        ),
    ),
    BotBucket: (("sender",), ("tx_count", "gross_usd", "gas_usd", "net_usd", "builder_native")),
    ContractBucket: (("contract",), ("tx_count", "gross_usd", "gas_usd", "net_usd", "builder_native")),
    PoolBucket: (("pool",), ("tx_count", "tx_gross_usd", "opp_count", "opp_profit_usd")),
    TokenBucket: (("token",), ("tx_count", "tx_gross_usd")),
}

Key = tuple[Any, ...]
Deltas = dict[type, dict[Key, dict[str, Any]]]


def hour_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def day_start(moment: datetime) -> datetime:
    return hour_start(moment).replace(hour=0)


def _buckets(moment: datetime) -> tuple[tuple[str, datetime], tuple[str, datetime]]:
    return ((Span.HOUR, hour_start(moment)), (Span.DAY, day_start(moment)))


def _new_deltas() -> Deltas:
    return {model: defaultdict(lambda: defaultdict(int)) for model in TABLES}


def _add(deltas: Deltas, model: type, key: Key, values: dict[str, Any]) -> None:
    row = deltas[model][key]
    for column, value in values.items():
        row[column] += value


def deltas_for_transactions(
    rows: Iterable[ArbitrageTransaction], *, sign: int = 1, deltas: Deltas | None = None
) -> Deltas:
    """What adding (sign=1) or removing (sign=-1) these transaction rows changes (pure)."""
    deltas = deltas if deltas is not None else _new_deltas()
    for tx in rows:
        gross, gas, net = Decimal(tx.profit_gross_usd), Decimal(tx.gas_cost_usd), Decimal(tx.profit_net_usd)
        builder = Decimal(tx.coinbase_transfer_wei) / WEI if tx.coinbase_transfer_wei is not None else Decimal(0)
        money = {"tx_count": sign, "gross_usd": sign * gross, "gas_usd": sign * gas, "net_usd": sign * net}
        for span, start in _buckets(tx.block_timestamp):
            base = (tx.chain_id, span, start)
            _add(
                deltas,
                ChainBucket,
                base,
                {
                    **money,
                    "builder_native": sign * builder,
                    "builder_measured": sign * (tx.coinbase_transfer_wei is not None),
                },
            )
            _add(deltas, BotBucket, (*base, tx.from_address), {**money, "builder_native": sign * builder})
            if tx.contract_address:  # empty: stored before the contract was recorded
                _add(deltas, ContractBucket, (*base, tx.contract_address), {**money, "builder_native": sign * builder})
            for pool in dict.fromkeys(tx.pools_involved):
                _add(deltas, PoolBucket, (*base, pool), {"tx_count": sign, "tx_gross_usd": sign * gross})
            for token in dict.fromkeys(tx.tokens_involved):
                _add(deltas, TokenBucket, (*base, token), {"tx_count": sign, "tx_gross_usd": sign * gross})
    return deltas


def deltas_for_opportunities(rows: Iterable[Opportunity], *, sign: int = 1, deltas: Deltas | None = None) -> Deltas:
    """What adding or removing these opportunity rows changes (pure). Captures are recounted apart."""
    deltas = deltas if deltas is not None else _new_deltas()
    for opp in rows:
        profit = Decimal(opp.profit_usd)
        for span, start in _buckets(opp.detected_at):
            base = (opp.chain_id, span, start)
            _add(deltas, ChainBucket, base, {"opp_count": sign, "opp_profit_usd": sign * profit})
            _add(deltas, PoolBucket, (*base, opp.pool_address), {"opp_count": sign, "opp_profit_usd": sign * profit})
    return deltas


def _adapt(model: type, column: str, value: Any) -> Any:
    field = model._meta.get_field(column)  # type: ignore[attr-defined]
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if field.get_internal_type() == "DecimalField":
        return connection.ops.adapt_decimalfield_value(Decimal(value), field.max_digits, field.decimal_places)
    return int(value) if isinstance(value, bool) else value


def upsert_add(model: type, key_columns: tuple[str, ...], columns: tuple[str, ...], rows: dict[Key, Any]) -> None:
    """Add ``rows`` ({key: {column: delta}}) to ``model``'s rows: INSERT … ON CONFLICT DO UPDATE."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)  # type: ignore[attr-defined]
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in (*key_columns, *columns))}) "
        f"VALUES ({', '.join(['%s'] * (len(key_columns) + len(columns)))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key_columns)}) DO UPDATE SET "
        + ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in columns)
    )
    # Sorted keys: concurrent writers lock the rows in the same order (no deadlock).
    params = [
        [_adapt(model, c, v) for c, v in zip(key_columns, key, strict=True)]
        + [_adapt(model, c, values.get(c, 0)) for c in columns]
        for key, values in sorted(rows.items(), key=lambda item: tuple(str(k) for k in item[0]))
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def deltas_apply(deltas: Deltas) -> None:
    """Add the deltas to their bucket rows, one statement per table."""
    for model, rows in deltas.items():
        keys, columns = TABLES[model]
        upsert_add(model, ("chain_id", "span", "start", *keys), columns, rows)


def captured_recount(*, chain_id: int, hours: Iterable[datetime]) -> None:
    """Set ``opp_captured`` of these hours (and their days) from the opportunity rows."""
    hours = sorted(set(hours))
    if not hours:
        return
    deltas = _new_deltas()
    for start in hours:
        deltas[ChainBucket][(chain_id, Span.HOUR, start)]["opp_captured"] += 0  # make sure the row exists
    deltas_apply(deltas)
    for start in hours:
        captured = Opportunity.objects.filter(
            chain_id=chain_id, captured=True, detected_at__gte=start, detected_at__lt=start + HOUR
        ).count()
        ChainBucket.objects.filter(chain_id=chain_id, span=Span.HOUR, start=start).update(opp_captured=captured)
    for day in sorted({day_start(h) for h in hours}):
        total = ChainBucket.objects.filter(
            chain_id=chain_id, span=Span.HOUR, start__gte=day, start__lt=day + DAY
        ).aggregate(n=Sum("opp_captured"))["n"]
        ChainBucket.objects.update_or_create(
            chain_id=chain_id, span=Span.DAY, start=day, defaults={"opp_captured": total or 0}
        )


def _capture_hours(*, chain_id: int, blocks: Sequence[int], extra: Iterable[datetime] = ()) -> set[datetime]:
    """Hours of the opportunities a transaction in ``blocks`` can have captured or released."""
    hours = {hour_start(moment) for moment in extra}
    if blocks:
        window = int(settings.CAPTURE_WINDOW_BLOCKS)
        moments = Opportunity.objects.filter(
            chain_id=chain_id, block_number__gte=min(blocks) - window, block_number__lte=max(blocks)
        ).values_list("detected_at", flat=True)
        hours.update(hour_start(moment) for moment in moments)
    return hours


def _windows_add(deltas: Deltas) -> None:
    from api.windows import windows_add as add

    add(deltas)


def aggregates_on_written(*, kind: str, chain_id: int, rows: Sequence[Any]) -> None:
    """``detections_written``: add the new rows; recount the captures their write may have made."""
    if kind == "transactions":
        deltas = deltas_for_transactions(rows)
        deltas_apply(deltas)
        _windows_add(deltas)
        captured_recount(
            chain_id=chain_id, hours=_capture_hours(chain_id=chain_id, blocks=[r.block_number for r in rows])
        )
    elif kind == "opportunities":
        deltas = deltas_for_opportunities(rows)
        deltas_apply(deltas)
        _windows_add(deltas)
        captured_recount(
            chain_id=chain_id,
            hours=_capture_hours(chain_id=chain_id, blocks=[], extra=[r.detected_at for r in rows]),
        )


def aggregates_on_removed(*, kind: str, chain_id: int, rows: Sequence[Any]) -> None:
    """``detections_removed``: subtract the rows about to be deleted."""
    if kind == "transactions":
        deltas = deltas_for_transactions(rows, sign=-1)
        deltas_apply(deltas)
        _windows_add(deltas)
        # The rollback released these transactions' captures before telling us: recount.
        captured_recount(
            chain_id=chain_id, hours=_capture_hours(chain_id=chain_id, blocks=[r.block_number for r in rows])
        )
    elif kind == "opportunities":
        deltas = deltas_for_opportunities(rows, sign=-1)
        for opp in rows:
            if opp.captured:
                for span, start in _buckets(opp.detected_at):
                    deltas[ChainBucket][(chain_id, span, start)]["opp_captured"] -= 1
        deltas_apply(deltas)
        _windows_add(deltas)


@transaction.atomic
def aggregates_rebuild(
    *, chain_id: int | None = None, batch: int = 5000, links_only: bool = False, links: bool = True
) -> None:
    """Recompute every bucket and the filters' side tables (of one chain or all) from the rows.

    PostgreSQL does it in SQL (minutes for tens of millions of rows); other databases go through
    the same delta functions as the receivers, in batches. ``links_only``: the side tables alone;
    ``links=False``: the buckets alone (the two can then run side by side, in two processes).
    """
    from api.links import links_rebuild

    if links or links_only:
        links_rebuild(chain_id=chain_id)
    if links_only:
        return
    for model in TABLES:
        qs = model.objects.all()  # type: ignore[attr-defined]
        (qs.filter(chain_id=chain_id) if chain_id is not None else qs).delete()
    if connection.vendor == "postgresql":
        _rebuild_postgresql(chain_id)
    else:
        _rebuild_portable(chain_id, batch)
    from api.windows import windows_reset

    windows_reset()


def _rebuild_portable(chain_id: int | None, batch: int) -> None:
    txs = (
        ArbitrageTransaction.objects.all()
        if chain_id is None
        else ArbitrageTransaction.objects.filter(chain_id=chain_id)
    )
    opps = Opportunity.objects.all() if chain_id is None else Opportunity.objects.filter(chain_id=chain_id)
    for qs, deltas_for in ((txs, deltas_for_transactions), (opps, deltas_for_opportunities)):
        chunk: list[Any] = []
        for row in qs.order_by("pk").iterator(chunk_size=batch):
            chunk.append(row)
            if len(chunk) >= batch:
                deltas_apply(deltas_for(chunk))  # type: ignore[operator]
                chunk = []
        deltas_apply(deltas_for(chunk))  # type: ignore[operator]
    for chain in ChainBucket.objects.values_list("chain_id", flat=True).distinct():
        hours = ChainBucket.objects.filter(chain_id=chain, span=Span.HOUR).values_list("start", flat=True)
        captured_recount(chain_id=chain, hours=list(hours))


def _rebuild_postgresql(chain_id: int | None) -> None:
    """The rebuild as GROUP BY queries (PostgreSQL): hours from the rows, days from the hours.

    Same figures as the receivers (a pool or token counts once per transaction).
    """
    tx = ArbitrageTransaction._meta.db_table
    opp = Opportunity._meta.db_table
    where = "" if chain_id is None else f"WHERE t.chain_id = {int(chain_id)}"
    where_o = "" if chain_id is None else f"WHERE o.chain_id = {int(chain_id)}"
    where_contract = "WHERE t.contract_address <> ''" + (
        "" if chain_id is None else f" AND t.chain_id = {int(chain_id)}"
    )
    hour_t = "date_trunc('hour', t.block_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    hour_o = "date_trunc('hour', o.detected_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    builder = "coalesce(t.coinbase_transfer_wei, 0) / 1e18"
    statements = [
        "SET LOCAL jit = off",
        "SET LOCAL work_mem = '256MB'",
        f"""INSERT INTO {ChainBucket._meta.db_table} (chain_id, span, start, tx_count, gross_usd, gas_usd, net_usd,
            builder_native, builder_measured, opp_count, opp_captured, opp_profit_usd)
        SELECT chain_id, 'h', b, sum(tc), sum(g), sum(gs), sum(n), sum(bn), sum(bm), sum(oc), sum(ocap), sum(op)
        FROM (
          SELECT t.chain_id, {hour_t} b, count(*) tc, sum(t.profit_gross_usd) g, sum(t.gas_cost_usd) gs,
            sum(t.profit_net_usd) n, sum({builder}) bn, count(t.coinbase_transfer_wei) bm, 0 oc, 0 ocap, 0 op
          FROM {tx} t {where} GROUP BY 1, 2
          UNION ALL
          SELECT o.chain_id, {hour_o}, 0, 0, 0, 0, 0, 0, count(*), count(*) FILTER (WHERE o.captured),
            sum(o.profit_usd)
          FROM {opp} o {where_o} GROUP BY 1, 2
        ) x GROUP BY chain_id, b""",
        f"""INSERT INTO {BotBucket._meta.db_table} (chain_id, span, start, sender, tx_count, gross_usd, gas_usd,
            net_usd, builder_native)
        SELECT t.chain_id, 'h', {hour_t}, t.from_address, count(*), sum(t.profit_gross_usd), sum(t.gas_cost_usd),
          sum(t.profit_net_usd), sum({builder})
        FROM {tx} t {where} GROUP BY 1, 3, 4""",
        f"""INSERT INTO {ContractBucket._meta.db_table} (chain_id, span, start, contract, tx_count, gross_usd,
            gas_usd, net_usd, builder_native)
        SELECT t.chain_id, 'h', {hour_t}, t.contract_address, count(*), sum(t.profit_gross_usd),
          sum(t.gas_cost_usd), sum(t.profit_net_usd), sum({builder})
        FROM {tx} t {where_contract} GROUP BY 1, 3, 4""",
        f"""INSERT INTO {PoolBucket._meta.db_table} (chain_id, span, start, pool, tx_count, tx_gross_usd, opp_count,
            opp_profit_usd)
        SELECT chain_id, 'h', b, pool, sum(tc), sum(g), sum(oc), sum(op) FROM (
          SELECT t.chain_id, {hour_t} b, p.pool, count(*) tc, sum(t.profit_gross_usd) g, 0 oc, 0 op
          FROM {tx} t CROSS JOIN LATERAL (SELECT DISTINCT jsonb_array_elements_text(t.pools_involved) pool) p
          {where} GROUP BY 1, 2, 3
          UNION ALL
          SELECT o.chain_id, {hour_o}, o.pool_address, 0, 0, count(*), sum(o.profit_usd)
          FROM {opp} o {where_o} GROUP BY 1, 2, 3
        ) x GROUP BY chain_id, b, pool""",
        f"""INSERT INTO {TokenBucket._meta.db_table} (chain_id, span, start, token, tx_count, tx_gross_usd)
        SELECT t.chain_id, 'h', {hour_t}, k.token, count(*), sum(t.profit_gross_usd)
        FROM {tx} t CROSS JOIN LATERAL (SELECT DISTINCT jsonb_array_elements_text(t.tokens_involved) token) k
        {where} GROUP BY 1, 3, 4""",
    ]
    day = "date_trunc('day', start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    scope = "span = 'h'" + ("" if chain_id is None else f" AND chain_id = {int(chain_id)}")
    for model in TABLES:
        keys, columns = TABLES[model]
        table = model._meta.db_table  # type: ignore[attr-defined]
        key_list = ", ".join(("chain_id", *keys))
        statements.append(
            f"INSERT INTO {table} ({key_list}, span, start, {', '.join(columns)}) "
            f"SELECT {key_list}, 'd', {day}, {', '.join(f'sum({c})' for c in columns)} FROM {table} "
            f"WHERE {scope} GROUP BY {key_list}, {day}"
        )
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
