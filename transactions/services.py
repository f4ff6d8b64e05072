"""Writes for executed arbitrage transactions: price, record (idempotently), broadcast, roll back.

The chain I/O lives in ``transactions.monitor``; everything here works on plain
values (detected cycles, receipt facts, prices at the block) so it is tested
without a node. Raw amounts stay Python ``int`` end to end; USD figures are
``Decimal`` rounded to the model's 6 places only when stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from scanning.detections import DetectionKind, detections_record, detections_remove
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

    tx_hash: str
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
    return PricedTransaction(tx_hash=facts.tx_hash, fields=fields, cycles=cycles)


TRANSACTIONS = DetectionKind(
    name="transactions",
    model=ArbitrageTransaction,
    key=("tx_hash",),
    serialize=transaction_data,
    broadcast=lambda: _broadcaster(),  # looked up when sending: the streaming app may be swapped out
)


def _broadcaster() -> Callable[[dict[str, Any]], None] | None:
    from streaming.broadcast import broadcast_transaction

    return broadcast_transaction


@dataclass(frozen=True, slots=True)
class TxToRecord:
    facts: TxFacts
    arbitrages: Sequence[DetectedArbitrage]
    prices: BlockPrices


def transaction_record(
    *,
    chain_id: int,
    facts: TxFacts,
    arbitrages: Sequence[DetectedArbitrage],
    prices: BlockPrices,
    broadcast: bool = True,
) -> tuple[ArbitrageTransaction, bool]:
    """Store one arbitrage transaction and its cycles once; returns (row, created).

    Idempotent on (chain, tx_hash): a second call (a re-scan, a backfill
    overlapping the live scanner) returns the stored row and changes nothing.
    """
    created = transactions_record_many(
        chain_id=chain_id, items=[TxToRecord(facts, arbitrages, prices)], broadcast=broadcast
    )
    if created:
        return ArbitrageTransaction.objects.get(chain_id=chain_id, tx_hash=facts.tx_hash), True
    return ArbitrageTransaction.objects.get(chain_id=chain_id, tx_hash=facts.tx_hash), False


def transactions_record_many(*, chain_id: int, items: Sequence[TxToRecord], broadcast: bool = True) -> int:
    """Price and store arbitrage transactions (``transactions_price`` then ``transactions_write``)."""
    return transactions_write(chain_id=chain_id, priced=transactions_price(items), broadcast=broadcast)


def transactions_price(items: Sequence[TxToRecord]) -> list[PricedTransaction]:
    """Each item's row fields and cycles (pure; ``transaction_price``)."""
    return [transaction_price(facts=i.facts, arbitrages=i.arbitrages, prices=i.prices) for i in items]


def transactions_write(*, chain_id: int, priced: Sequence[PricedTransaction], broadcast: bool = True) -> int:
    """Store priced arbitrage transactions and their cycles; returns rows created.

    Through the shared write path (``scanning.detections``): insert-ignore on
    (chain, tx_hash), the cycles in one more INSERT, ``detections_written`` (the
    opportunities app links the opportunities they captured), broadcast after commit.
    """
    if not priced:
        return 0
    by_hash = {p.tx_hash: p for p in priced}
    rows = [ArbitrageTransaction(chain_id=chain_id, tx_hash=tx_hash, **p.fields) for tx_hash, p in by_hash.items()]

    def cycles(created: list[ArbitrageTransaction]) -> None:
        ArbitrageCycle.objects.bulk_create(
            [ArbitrageCycle(transaction=tx, **cycle) for tx in created for cycle in by_hash[tx.tx_hash].cycles]
        )

    stored = detections_record(TRANSACTIONS, chain_id=chain_id, rows=rows, broadcast=broadcast, after_insert=cycles)
    return len(stored)


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


def transactions_rollback(*, chain_id: int, from_block: int) -> int:
    """A reorg orphaned ``from_block`` and later: drop their arbitrage rows (receivers release their captures)."""
    removed = detections_remove(TRANSACTIONS, chain_id=chain_id, from_block=from_block)
    if removed:
        logger.info(
            "chain %s: reorg from block %s removed %s arbitrage transactions", chain_id, from_block, len(removed)
        )
    return len(removed)
