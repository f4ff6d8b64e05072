"""Writes for opportunities, through the shared write path (``scanning.detections``): record, reorg removal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from opportunities.models import Opportunity
from opportunities.serializers import opportunity_data
from scanning.detections import DetectionKind, detections_record, detections_remove

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
    gas_price_wei: int | None = None  # the block's gas price the cost was computed at (opportunities.gas)
    gas_price_source: str = ""  # opportunities.gas.GasPriceSource; "" unknown (rows from before the field)
    path_pools: tuple[str, ...] = field(default=())
    path_tokens: tuple[str, ...] = field(default=())
    venues: tuple[str, ...] = field(default=())  # each hop's protocol family (dexes.families)
    detected_at: datetime | None = None  # None: now (live); a backfill gives the block's time, so history sorts right

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
            venues=list(self.venues),
            start_token=self.start_token,
            amount_in=self.amount_in,
            amount_out=self.amount_out,
            profit_raw=self.profit_raw,
            gas_estimate=self.gas_estimate,
            gas_cost_usd=self.gas_cost_usd.quantize(_USD_PLACES),
            gas_price_wei=self.gas_price_wei,
            gas_price_source=self.gas_price_source,
            **({"detected_at": self.detected_at} if self.detected_at is not None else {}),
        )


def _broadcaster() -> Callable[[dict[str, Any]], None] | None:
    try:
        from streaming.broadcast import broadcast_opportunity
    except ImportError:  # the streaming app is optional for a scanner-only deployment
        logger.warning("streaming.broadcast is not available; opportunities are stored but not streamed")
        return None
    return broadcast_opportunity


OPPORTUNITIES = DetectionKind(
    name="opportunities",
    model=Opportunity,
    key=("pool_id", "block_number"),
    serialize=opportunity_data,
    broadcast=lambda: _broadcaster(),  # looked up when sending: the streaming app may be swapped out
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
    """Insert-ignore a block's (or batch's) opportunities through the shared write path; returns the rows created.

    Rows whose (pool, block) already exists are left untouched, so re-running a
    batch (a retried task, a second worker) writes and broadcasts nothing twice.
    Each created row is broadcast once, after the surrounding transaction commits.
    """
    if not drafts:
        return []
    return detections_record(
        OPPORTUNITIES, chain_id=drafts[0].chain_id, rows=[d.as_model() for d in drafts], broadcast=broadcast
    )


def opportunity_delete_from_block(*, chain_id: int, from_block: int) -> int:
    """Remove the opportunities of blocks >= from_block (orphaned by a reorg); returns how many."""
    return len(detections_remove(OPPORTUNITIES, chain_id=chain_id, from_block=from_block))
