"""The side tables behind ``?pool=`` on transactions and ``?token=`` on opportunities (``api.models``).

A filter on a value held by a few thousand rows out of millions (a pool's transactions, a token's
opportunities) costs, through the detection tables' own indexes, a fetch and sort of every matching
row. These tables hold one row per (pool or token, detected_at, row id), so the newest matching rows
are a range of their primary key read backwards, and a page costs its own rows.

Guarantee: a link exists exactly while its row does. Links are added by the ``detections_written``
receiver inside the write transaction (with only the rows created now), deleted by the
``detections_removed`` receiver inside the reorg's transaction (and by the ORM's cascade on any other
delete), and recomputed by ``links_rebuild`` (called by ``aggregates_rebuild``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import F, QuerySet

from api.models import OpportunityToken, TransactionPool
from chains.models import Pool, Token
from opportunities.models import Opportunity
from transactions.models import ArbitrageTransaction

# The annotation a list filtered through a side table is ordered and paged by (``api.views.NewestFirst``).
KEYSET_AT = "keyset_at"
BATCH = 5_000


def transaction_pool_links(rows: Iterable[ArbitrageTransaction]) -> list[TransactionPool]:
    """One link per transaction and distinct pool it swapped through (pure)."""
    return [
        TransactionPool(
            pool=pool,
            detected_at=tx.detected_at,
            transaction_id=tx.pk,
            profit_net_usd=tx.profit_net_usd,
            swap_count=tx.swap_count,
        )
        for tx in rows
        for pool in dict.fromkeys(tx.pools_involved)
    ]


def opportunity_token_links(rows: Sequence[Opportunity]) -> list[OpportunityToken]:
    """One link per opportunity and token of its pool (one query for the pools' tokens)."""
    tokens = {
        pk: (t0, t1)
        for pk, t0, t1 in Pool.objects.filter(pk__in={o.pool_id for o in rows}).values_list(
            "pk", "token0__address", "token1__address"
        )
    }
    return [
        OpportunityToken(token=token, detected_at=opp.detected_at, opportunity_id=opp.pk)
        for opp in rows
        for token in dict.fromkeys(tokens.get(opp.pool_id, ()))
    ]


def links_on_written(*, kind: str, rows: Sequence[Any]) -> None:
    """``detections_written``: link the rows created now (inside their write transaction)."""
    if kind == "transactions":
        TransactionPool.objects.bulk_create(transaction_pool_links(rows), batch_size=BATCH)
    elif kind == "opportunities":
        OpportunityToken.objects.bulk_create(opportunity_token_links(rows), batch_size=BATCH)


def links_on_removed(*, kind: str, rows: Sequence[Any]) -> None:
    """``detections_removed``: delete the links of the rows a reorg is about to delete."""
    ids = [row.pk for row in rows]
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        if kind == "transactions":
            TransactionPool.objects.filter(transaction_id__in=chunk).delete()
        elif kind == "opportunities":
            OpportunityToken.objects.filter(opportunity_id__in=chunk).delete()


def transactions_through_pool(
    qs: QuerySet[ArbitrageTransaction], pool: str, **link_filters: Any
) -> QuerySet[ArbitrageTransaction]:
    """``qs`` restricted to transactions through ``pool``, carrying the link's time to page by.

    ``link_filters`` (lookups on the link's copies, e.g. ``profit_net_usd__gte``) go in the same join, so
    the index tests them before any transaction row is fetched.
    """
    lookups = {f"pool_links__{lookup}": value for lookup, value in link_filters.items()}
    return qs.filter(pool_links__pool=pool, **lookups).annotate(**{KEYSET_AT: F("pool_links__detected_at")})


def opportunities_of_token(qs: QuerySet[Opportunity], token: str) -> QuerySet[Opportunity]:
    """``qs`` restricted to opportunities on a pool holding ``token``, carrying the link's time to page by."""
    return qs.filter(token_links__token=token).annotate(**{KEYSET_AT: F("token_links__detected_at")})


def newest_first(qs: QuerySet[Any]) -> QuerySet[Any]:
    """Newest first, by the link when ``qs`` came through a side table (its index gives the order)."""
    if KEYSET_AT in qs.query.annotations:
        return qs.order_by(f"-{KEYSET_AT}", "-id")
    return qs.order_by("-detected_at", "-id")


def links_rebuild(*, chain_id: int | None = None) -> None:
    """Recompute both side tables (of one chain or all) from the rows; call inside a transaction."""
    if connection.vendor == "postgresql":
        _rebuild_postgresql(chain_id)
        return
    txs = ArbitrageTransaction.objects.all()
    opps = Opportunity.objects.all()
    if chain_id is not None:
        txs, opps = txs.filter(chain_id=chain_id), opps.filter(chain_id=chain_id)
    TransactionPool.objects.filter(transaction__in=txs).delete()
    OpportunityToken.objects.filter(opportunity__in=opps).delete()
    for qs, kind in ((txs, "transactions"), (opps, "opportunities")):
        chunk: list[Any] = []
        for row in qs.order_by("pk").iterator(chunk_size=BATCH):
            chunk.append(row)
            if len(chunk) >= BATCH:
                links_on_written(kind=kind, rows=chunk)
                chunk = []
        links_on_written(kind=kind, rows=chunk)


def _rebuild_postgresql(chain_id: int | None) -> None:
    """INSERT … SELECT from the rows. A whole rebuild empties the tables and builds their indexes after."""
    tx = ArbitrageTransaction._meta.db_table
    opp = Opportunity._meta.db_table
    links = [
        (
            TransactionPool._meta.db_table,
            "transaction_id",
            tx,
            f"INSERT INTO {TransactionPool._meta.db_table} (pool, detected_at, transaction_id, profit_net_usd, "
            "swap_count) "
            f"SELECT p.pool, t.detected_at, t.id, t.profit_net_usd, t.swap_count FROM {tx} t "
            "CROSS JOIN LATERAL (SELECT DISTINCT jsonb_array_elements_text(t.pools_involved) pool) p",
            "t",
        ),
        (
            OpportunityToken._meta.db_table,
            "opportunity_id",
            opp,
            f"INSERT INTO {OpportunityToken._meta.db_table} (token, detected_at, opportunity_id) "
            f"SELECT k.address, o.detected_at, o.id FROM {opp} o "
            f"JOIN {Pool._meta.db_table} p ON p.id = o.pool_id "
            f"JOIN {Token._meta.db_table} k ON k.id IN (p.token0_id, p.token1_id)",
            "o",
        ),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for table, fk, rows_table, insert, alias in links:
            if chain_id is not None:
                cursor.execute(
                    f"DELETE FROM {table} WHERE {fk} IN (SELECT id FROM {rows_table} WHERE chain_id = %s)", [chain_id]
                )
                cursor.execute(f"{insert} WHERE {alias}.chain_id = %s", [chain_id])
                continue
            cursor.execute(
                "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "WHERE c.conrelid = %s::regclass AND c.contype = 'p'",
                [table],
            )
            constraints = cursor.fetchall()
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = %s "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
                [table, table],
            )
            indexes = cursor.fetchall()
            cursor.execute(f"TRUNCATE {table}")
            for name, _ in constraints:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")
            cursor.execute(insert)
            for name, definition in constraints:
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
            for _, definition in indexes:
                cursor.execute(definition)
