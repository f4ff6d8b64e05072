"""Writes for opportunities: idempotent recording (then broadcast after commit), reorg removal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction

from chains.signals import detections_committed, detections_removed, detections_written
from opportunities.models import Opportunity
from opportunities.serializers import opportunity_data

logger = logging.getLogger(__name__)

_USD_PLACES = Decimal("0.000001")
_NATIVE_PLACES = Decimal("0.000000000000000001")


@dataclass(frozen=True, slots=True)
class OpportunityDraft:
    """An opportunity found by the scanner, before it is a row. Amounts are raw ints."""

    chain_id: int
    pool_id: int
    pool_name: str
    pool_address: str
    block_number: int
    block_hash: str
    imbalance_pct: float | None
    profit_usd: Decimal
    profit_native: Decimal
    reserve0: int
    reserve1: int
    start_token: str
    amount_in: int
    amount_out: int
    profit_raw: int
    gas_estimate: int
    gas_cost_usd: Decimal
    path_pools: tuple[str, ...] = field(default=())
    path_tokens: tuple[str, ...] = field(default=())

    def as_model(self) -> Opportunity:
        return Opportunity(
            chain_id=self.chain_id,
            pool_id=self.pool_id,
            pool_name=self.pool_name[:140],
            pool_address=self.pool_address,
            imbalance_pct=self.imbalance_pct,
            profit_usd=self.profit_usd.quantize(_USD_PLACES),
            profit_native=self.profit_native.quantize(_NATIVE_PLACES),
            reserve0=self.reserve0,
            reserve1=self.reserve1,
            block_number=self.block_number,
            block_hash=self.block_hash,
            path_pools=list(self.path_pools),
            path_tokens=list(self.path_tokens),
            start_token=self.start_token,
            amount_in=self.amount_in,
            amount_out=self.amount_out,
            profit_raw=self.profit_raw,
            gas_estimate=self.gas_estimate,
            gas_cost_usd=self.gas_cost_usd.quantize(_USD_PLACES),
        )


def opportunity_record(*, draft: OpportunityDraft, broadcast: bool = True) -> tuple[Opportunity, bool]:
    """Store one opportunity unless its (pool, block) row exists; broadcast it after commit if new.

    Returns (row, created). A second call with the same (pool, block) returns the
    stored row and broadcasts nothing.
    """
    created = opportunity_record_many(drafts=[draft], broadcast=broadcast)
    if created:
        return created[0], True
    return Opportunity.objects.get(pool_id=draft.pool_id, block_number=draft.block_number), False


def opportunity_record_many(*, drafts: Sequence[OpportunityDraft], broadcast: bool = True) -> list[Opportunity]:
    """Insert-ignore a block's (or batch's) opportunities; returns the rows created now.

    Rows whose (pool, block) already exists are left untouched, so re-running a
    batch (a retried task, a second worker) writes and broadcasts nothing twice.
    Each created row is broadcast once, after the surrounding transaction commits.
    """
    if not drafts:
        return []
    unique: dict[tuple[int, int], OpportunityDraft] = {}
    for draft in drafts:
        unique.setdefault((draft.pool_id, draft.block_number), draft)
    blocks = {block for _, block in unique}
    pools = {pool for pool, _ in unique}
    existing = set(
        Opportunity.objects.filter(chain_id=drafts[0].chain_id, block_number__in=blocks, pool_id__in=pools).values_list(
            "pool_id", "block_number"
        )
    )
    fresh = [d.as_model() for key, d in unique.items() if key not in existing]
    if not fresh:
        return []
    created: list[Opportunity]
    if connection.features.can_return_rows_from_bulk_insert:
        try:
            with transaction.atomic():
                created = Opportunity.objects.bulk_create(fresh)
        except IntegrityError:
            # A concurrent writer got there first (only possible without the scan lock).
            created = [row for row in (_insert_ignore(row) for row in fresh) if row is not None]
    else:
        created = [row for row in (_insert_ignore(row) for row in fresh) if row is not None]
    if created:
        # Re-read as stored (one query): SQLite keeps decimals as REAL, and a notification must say
        # exactly what a later read of the row says.
        stored = list(Opportunity.objects.filter(pk__in=[row.pk for row in created]).order_by("pk"))
        detections_written.send(sender=Opportunity, kind="opportunities", chain_id=drafts[0].chain_id, rows=stored)
        payloads = [opportunity_data(row) for row in stored] if broadcast else []
        transaction.on_commit(lambda: _after_commit(drafts[0].chain_id, stored, payloads))
    return created


def _insert_ignore(row: Opportunity) -> Opportunity | None:
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return None
    return row


def _broadcaster() -> Callable[[dict[str, Any]], None] | None:
    try:
        from streaming.broadcast import broadcast_opportunity
    except ImportError:  # the streaming app is optional for a scanner-only deployment
        logger.warning("streaming.broadcast is not available; opportunities are stored but not streamed")
        return None
    return broadcast_opportunity


def _after_commit(chain_id: int, stored: list[Opportunity], payloads: list[dict[str, Any]]) -> None:
    _broadcast_all(payloads)
    for _receiver, result in detections_committed.send_robust(
        sender=Opportunity, kind="opportunities", chain_id=chain_id, rows=stored
    ):
        if isinstance(result, Exception):
            logger.error("detections_committed receiver failed: %r", result)


def _broadcast_all(payloads: list[dict[str, Any]]) -> None:
    if not payloads:
        return
    broadcast = _broadcaster()
    if broadcast is None:
        return
    for payload in payloads:
        try:
            broadcast(payload)
        except Exception:  # broadcast_opportunity promises not to raise; a stored row must not be lost if it does
            logger.exception("broadcast of opportunity %s failed", payload.get("id"))


def opportunity_delete_from_block(*, chain_id: int, from_block: int) -> int:
    """Remove the opportunities of blocks >= from_block (orphaned by a reorg); returns how many."""
    orphaned = Opportunity.objects.filter(chain_id=chain_id, block_number__gte=from_block)
    with transaction.atomic():
        rows = list(orphaned)
        if rows:
            detections_removed.send(sender=Opportunity, kind="opportunities", chain_id=chain_id, rows=rows)
        deleted, _ = orphaned.delete()
    return deleted
