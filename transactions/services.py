"""Writes for executed arbitrage transactions: price, record (idempotently), broadcast, roll back.

The chain I/O lives in ``transactions.monitor``; everything here works on plain
values (detected cycles, receipt facts, prices at the block) so it is tested
without a node. Raw amounts stay Python ``int`` end to end; USD figures are
``Decimal`` rounded to the model's 6 places only when stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from chains.signals import detections_committed, detections_removed, detections_written
from opportunities.capture import opportunity_capture_link, opportunity_capture_link_many, opportunity_capture_release
from streaming.broadcast import broadcast_transaction
from transactions.detection import DetectedArbitrage
from transactions.models import ArbitrageCycle, ArbitrageTransaction
from transactions.serializers import transaction_data

logger = logging.getLogger(__name__)

USD_PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class TxFacts:
    """What the receipt and the block header say about one transaction."""

    tx_hash: str
    from_address: str
    block_number: int
    block_hash: str
    block_timestamp: datetime
    gas_used: int
    effective_gas_price: int
    coinbase_transfer_wei: int | None = None


@dataclass(frozen=True, slots=True)
class BlockPrices:
    """USD prices at one block: per token (checksum address) and of the native coin.

    A token missing from ``token_usd`` (no pricing pool, unknown decimals) is
    valued at 0 USD; its raw profit is still exact.
    """

    native_usd: Decimal | None
    token_usd: Mapping[str, Decimal] = field(default_factory=dict)
    decimals: Mapping[str, int | None] = field(default_factory=dict)

    def value_usd(self, token: str, raw: int) -> Decimal | None:
        price = self.token_usd.get(token)
        decimals = self.decimals.get(token)
        if price is None or decimals is None:
            return None
        return Decimal(raw) / (Decimal(10) ** decimals) * price


def _usd(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(USD_PLACES)


def arbitrage_is_profitable(arbitrage: DetectedArbitrage) -> bool:
    """A closed cycle counts as an arbitrage only if it returned more than it put in.

    A round trip that loses in the start token (a router A→B→C→A trade) is a
    trade, not an arbitrage; a profitable cycle that loses after gas is
    stored with its negative net profit.
    """
    return arbitrage.end_amount > arbitrage.start_amount


@dataclass(frozen=True, slots=True)
class PricedTransaction:
    """All field values of one ArbitrageTransaction row and its cycles, computed (pure)."""

    fields: dict[str, object]
    cycles: list[dict[str, object]]


def transaction_price(
    *, facts: TxFacts, arbitrages: Sequence[DetectedArbitrage], prices: BlockPrices
) -> PricedTransaction:
    """Gross profit (per cycle, at the block's prices), gas from the receipt, net = gross − gas."""
    if not arbitrages:
        raise ValueError(f"{facts.tx_hash}: no arbitrage to price")
    cycles: list[dict[str, object]] = []
    gross = Decimal(0)
    for index, arb in enumerate(arbitrages):
        profit_usd = prices.value_usd(arb.start_token, arb.profit)
        if profit_usd is None:
            logger.warning("tx %s: no USD price for %s at block %s", facts.tx_hash, arb.start_token, facts.block_number)
        gross += profit_usd or Decimal(0)
        cycles.append(
            {
                "index": index,
                "start_token": arb.start_token,
                "start_amount": arb.start_amount,
                "end_amount": arb.end_amount,
                "profit_raw": arb.profit,
                "profit_usd": _usd(profit_usd),
                "pools": list(arb.pools),
                "tokens": list(arb.tokens),
            }
        )
    gas_wei = facts.gas_used * facts.effective_gas_price
    gas_native = Decimal(gas_wei).scaleb(-18)  # exact: no division rounding
    gas_usd = gas_native * prices.native_usd if prices.native_usd is not None else Decimal(0)
    start_tokens = {arb.start_token for arb in arbitrages}
    shared = len(start_tokens) == 1
    fields: dict[str, object] = {
        "from_address": facts.from_address,
        "block_number": facts.block_number,
        "block_hash": facts.block_hash,
        "block_timestamp": facts.block_timestamp,
        "gas_price_gwei": Decimal(facts.effective_gas_price).scaleb(-9),
        "gas_used": facts.gas_used,
        "gas_cost_native": gas_native,
        "gas_cost_usd": _usd(gas_usd),
        "swap_count": sum(arb.swap_count for arb in arbitrages),
        "strategy": "+".join(arb.strategy for arb in arbitrages),
        "profit_gross_usd": _usd(gross),
        "profit_net_usd": _usd(gross) - _usd(gas_usd),
        "pools_involved": [pool for arb in arbitrages for pool in arb.pools],
        "tokens_involved": [token for arb in arbitrages for token in arb.tokens],
        "profit_token": next(iter(start_tokens)) if shared else "",
        "profit_raw": sum(arb.profit for arb in arbitrages) if shared else None,
        "coinbase_transfer_wei": facts.coinbase_transfer_wei,
    }
    return PricedTransaction(fields=fields, cycles=cycles)


def _written(*, chain_id: int, created: Sequence[ArbitrageTransaction], broadcast: bool) -> None:
    """Rows created in this transaction: tell the receivers now, broadcast and notify after commit."""
    # Serialized as stored (re-read: SQLite rounds decimals), sent only once the commit succeeded.
    stored = list(ArbitrageTransaction.objects.filter(pk__in=[tx.pk for tx in created]).order_by("pk"))
    detections_written.send(sender=ArbitrageTransaction, kind="transactions", chain_id=chain_id, rows=stored)
    payloads = [transaction_data(tx) for tx in stored] if broadcast else []
    transaction.on_commit(lambda: _after_commit(chain_id, stored, payloads))


def _after_commit(chain_id: int, stored: list[ArbitrageTransaction], payloads: list[dict[str, Any]]) -> None:
    for data in payloads:
        broadcast_transaction(data)
    for _receiver, result in detections_committed.send_robust(
        sender=ArbitrageTransaction, kind="transactions", chain_id=chain_id, rows=stored
    ):
        if isinstance(result, Exception):
            logger.error("detections_committed receiver failed: %r", result)


@transaction.atomic
def transaction_record(
    *,
    chain_id: int,
    facts: TxFacts,
    arbitrages: Sequence[DetectedArbitrage],
    prices: BlockPrices,
    broadcast: bool = True,
    link_captures: bool = True,
) -> tuple[ArbitrageTransaction, bool]:
    """Store one arbitrage transaction and its cycles once; returns (row, created).

    Idempotent on (chain, tx_hash): a second call (a re-scan, a backfill
    overlapping the live scanner) returns the stored row and changes nothing.
    A new row is broadcast after the surrounding transaction commits, and the
    opportunities it captured are marked.
    """
    existing = ArbitrageTransaction.objects.filter(chain_id=chain_id, tx_hash=facts.tx_hash).first()
    if existing is not None:
        return existing, False
    priced = transaction_price(facts=facts, arbitrages=arbitrages, prices=prices)
    try:
        with transaction.atomic():
            tx = ArbitrageTransaction.objects.create(chain_id=chain_id, tx_hash=facts.tx_hash, **priced.fields)
    except IntegrityError:
        # Another process stored it between our read and our insert.
        return ArbitrageTransaction.objects.get(chain_id=chain_id, tx_hash=facts.tx_hash), False
    ArbitrageCycle.objects.bulk_create([ArbitrageCycle(transaction=tx, **cycle) for cycle in priced.cycles])
    if link_captures:
        opportunity_capture_link(
            chain_id=chain_id,
            pools=tx.pools_involved,
            block_number=tx.block_number,
            captured_by=tx.from_address,
            capture_tx_hash=tx.tx_hash,
        )
    _written(chain_id=chain_id, created=[tx], broadcast=broadcast)
    return tx, True


@dataclass(frozen=True, slots=True)
class TxToRecord:
    facts: TxFacts
    arbitrages: Sequence[DetectedArbitrage]
    prices: BlockPrices


@transaction.atomic
def transactions_record_many(*, chain_id: int, items: Sequence[TxToRecord], broadcast: bool = True) -> int:
    """``transaction_record`` for a scanned batch with a constant number of queries; returns rows created.

    One INSERT for the transactions, one for their cycles, one SELECT for the
    opportunities they may have captured. If another process stored one of
    them meanwhile (unique constraint), falls back to the one-by-one path,
    which skips what exists.
    """
    if not items:
        return 0
    priced = [transaction_price(facts=i.facts, arbitrages=i.arbitrages, prices=i.prices) for i in items]
    rows = [
        ArbitrageTransaction(chain_id=chain_id, tx_hash=i.facts.tx_hash, **p.fields)
        for i, p in zip(items, priced, strict=True)
    ]
    try:
        with transaction.atomic():
            created = ArbitrageTransaction.objects.bulk_create(rows)
    except IntegrityError:
        return sum(
            transaction_record(
                chain_id=chain_id, facts=i.facts, arbitrages=i.arbitrages, prices=i.prices, broadcast=broadcast
            )[1]
            for i in items
        )
    if any(tx.pk is None for tx in created):  # a backend that does not return ids from bulk INSERT
        ids = dict(
            ArbitrageTransaction.objects.filter(
                chain_id=chain_id, tx_hash__in=[t.tx_hash for t in created]
            ).values_list("tx_hash", "pk")
        )
        for tx in created:
            tx.pk = ids[tx.tx_hash]
    ArbitrageCycle.objects.bulk_create(
        [ArbitrageCycle(transaction=tx, **cycle) for tx, p in zip(created, priced, strict=True) for cycle in p.cycles]
    )
    opportunity_capture_link_many(
        chain_id=chain_id,
        captures=[(tx.pools_involved, tx.block_number, tx.from_address, tx.tx_hash) for tx in created],
    )
    if created:
        _written(chain_id=chain_id, created=created, broadcast=broadcast)
    return len(created)


def transactions_known(*, chain_id: int, tx_hashes: Iterable[str]) -> set[str]:
    """The hashes among ``tx_hashes`` already stored for the chain."""
    hashes = list(set(tx_hashes))
    known: set[str] = set()
    for i in range(0, len(hashes), 500):
        known.update(
            ArbitrageTransaction.objects.filter(chain_id=chain_id, tx_hash__in=hashes[i : i + 500]).values_list(
                "tx_hash", flat=True
            )
        )
    return known


@transaction.atomic
def transactions_rollback(*, chain_id: int, from_block: int) -> int:
    """A reorg orphaned ``from_block`` and later: drop their arbitrage rows and the captures they made."""
    orphaned = ArbitrageTransaction.objects.filter(chain_id=chain_id, block_number__gte=from_block)
    hashes = list(orphaned.values_list("tx_hash", flat=True))
    if hashes:
        opportunity_capture_release(chain_id=chain_id, tx_hashes=hashes)
        detections_removed.send(
            sender=ArbitrageTransaction, kind="transactions", chain_id=chain_id, rows=list(orphaned)
        )
    orphaned.delete()
    if hashes:
        logger.info(
            "chain %s: reorg from block %s removed %s arbitrage transactions", chain_id, from_block, len(hashes)
        )
    return len(hashes)
