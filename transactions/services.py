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
from transactions.flows import NATIVE, Hop, TxArbitrage
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
    contract_address: str = ""


@dataclass(frozen=True, slots=True)
class BlockPrices:
    """USD prices at the state an arbitrage started from: per token (checksum address) and of the native coin.

    ``source`` names that state (``parent_block``) or says there was none
    (``unavailable``: every USD figure is then empty, never today's prices).
    A token missing from ``token_usd`` is unpriced (``value_usd`` None).
    """

    native_usd: Decimal | None
    token_usd: Mapping[str, Decimal] = field(default_factory=dict)
    decimals: Mapping[str, int | None] = field(default_factory=dict)
    source: str = "parent_block"

    def value_usd(self, token: str, raw: int) -> Decimal | None:
        price = self.token_usd.get(token)
        decimals = self.decimals.get(token)
        if price is None or decimals is None:
            return None
        return Decimal(raw) / (Decimal(10) ** decimals) * price


def _usd(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(USD_PLACES)


def _usd_or_none(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(USD_PLACES)


@dataclass(frozen=True, slots=True)
class PricedTransaction:
    """All field values of one ArbitrageTransaction row and its cycles, computed (pure)."""

    tx_hash: str
    fields: dict[str, object]
    cycles: list[dict[str, object]]


def _hop_data(hop: Hop) -> dict[str, object]:
    return {
        "pool": hop.pool,
        "venue": hop.venue,
        "token_in": hop.token_in,
        "amount_in": str(hop.amount_in),
        "token_out": hop.token_out,
        "amount_out": str(hop.amount_out),
    }


def transaction_price(*, facts: TxFacts, arbitrage: TxArbitrage, prices: BlockPrices) -> PricedTransaction:
    """Gross = the searcher's per-token gains at the pre-arbitrage prices; net = gross − gas − builder payment.

    Gross adds the priced tokens only (an unpriced token's ``usd`` is null in
    ``profits``). The builder payment in USD is empty when the native part was
    not measured (no trace) or a paid token is unpriced; net then subtracts the
    part that is known.
    """
    if not arbitrage.cycles:
        raise ValueError(f"{facts.tx_hash}: no cycle to price")
    cycles: list[dict[str, object]] = []
    for index, cycle in enumerate(arbitrage.cycles):
        cycles.append(
            {
                "index": index,
                "start_token": cycle.start_token,
                "start_amount": cycle.start_amount,
                "end_amount": cycle.end_amount,
                "profit_raw": cycle.profit,
                "profit_usd": _usd_or_none(prices.value_usd(cycle.start_token, cycle.profit)),
                "pools": list(cycle.pools),
                "tokens": list(cycle.tokens),
                "venues": list(cycle.venues),
                "hops": [_hop_data(h) for h in cycle.hops],
                "profitable": cycle.profitable,
            }
        )
    profits = []
    gross = Decimal(0)
    unpriced = 0
    for token, raw in sorted(arbitrage.gains.items()):
        usd = prices.value_usd(token, raw)
        if usd is None:
            unpriced += 1
            logger.info("tx %s: no USD price for %s (%s)", facts.tx_hash, token, prices.source)
        else:
            gross += usd
        profits.append({"token": token, "raw": str(raw), "usd": None if usd is None else float(_usd(usd))})
    gas_wei = facts.gas_used * facts.effective_gas_price
    gas_native = Decimal(gas_wei).scaleb(-18)  # exact: no division rounding
    gas_usd = gas_native * prices.native_usd if prices.native_usd is not None else None

    payments: list[dict[str, object]] = []
    builder_usd: Decimal | None = Decimal(0) if arbitrage.native_measured else None
    known_builder_usd = Decimal(0)
    for token, raw in sorted(arbitrage.builder_payments.items()):
        if token == NATIVE:
            usd = Decimal(raw).scaleb(-18) * prices.native_usd if prices.native_usd is not None else None
        else:
            usd = prices.value_usd(token, raw)
        payments.append({"token": token, "raw": str(raw), "usd": None if usd is None else float(_usd(usd))})
        if usd is None:
            builder_usd = None
        else:
            known_builder_usd += usd
            builder_usd = None if builder_usd is None else builder_usd + usd
    single = len(arbitrage.gains) == 1
    fields: dict[str, object] = {
        "from_address": facts.from_address,
        "contract_address": facts.contract_address,
        "block_number": facts.block_number,
        "block_hash": facts.block_hash,
        "block_timestamp": facts.block_timestamp,
        "gas_price_gwei": Decimal(facts.effective_gas_price).scaleb(-9),
        "gas_used": facts.gas_used,
        "gas_cost_native": gas_native,
        "gas_cost_usd": _usd(gas_usd),
        "swap_count": sum(c.swap_count for c in arbitrage.cycles),
        "strategy": "+".join(c.strategy for c in arbitrage.cycles),
        "profit_gross_usd": _usd(gross),
        "profit_net_usd": _usd(gross) - _usd(gas_usd) - _usd(known_builder_usd),
        "pools_involved": [pool for c in arbitrage.cycles for pool in c.pools],
        "tokens_involved": [token for c in arbitrage.cycles for token in c.tokens],
        "venues": [venue for c in arbitrage.cycles for venue in c.venues],
        "profit_token": next(iter(arbitrage.gains)) if single else "",
        "profit_raw": next(iter(arbitrage.gains.values())) if single else None,
        "coinbase_transfer_wei": arbitrage.native_builder_payment,
        "outcome": _outcome(arbitrage, gross, unpriced),
        "profits": profits,
        "builder_payments": payments,
        "builder_payment_usd": _usd_or_none(builder_usd),
        "price_source": prices.source,
    }
    return PricedTransaction(tx_hash=facts.tx_hash, fields=fields, cycles=cycles)


def _outcome(arbitrage: TxArbitrage, gross: Decimal, unpriced: int) -> str:
    """profit / loss from the exact per-token gains; gains and losses in several tokens: by USD if all priced."""
    outcome = arbitrage.outcome
    if outcome == "mixed" and not unpriced:
        return "profit" if gross > 0 else "loss"
    return outcome


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
    arbitrage: TxArbitrage
    prices: BlockPrices


def transaction_record(
    *,
    chain_id: int,
    facts: TxFacts,
    arbitrage: TxArbitrage,
    prices: BlockPrices,
    broadcast: bool = True,
) -> tuple[ArbitrageTransaction, bool]:
    """Store one arbitrage transaction and its cycles once; returns (row, created).

    Idempotent on (chain, tx_hash): a second call (a re-scan, a backfill
    overlapping the live scanner) returns the stored row and changes nothing.
    """
    created = transactions_record_many(
        chain_id=chain_id, items=[TxToRecord(facts, arbitrage, prices)], broadcast=broadcast
    )
    if created:
        return ArbitrageTransaction.objects.get(chain_id=chain_id, tx_hash=facts.tx_hash), True
    return ArbitrageTransaction.objects.get(chain_id=chain_id, tx_hash=facts.tx_hash), False


def transactions_record_many(*, chain_id: int, items: Sequence[TxToRecord], broadcast: bool = True) -> int:
    """Price and store arbitrage transactions (``transactions_price`` then ``transactions_write``)."""
    return transactions_write(chain_id=chain_id, priced=transactions_price(items), broadcast=broadcast)


def transactions_price(items: Sequence[TxToRecord]) -> list[PricedTransaction]:
    """Each item's row fields and cycles (pure; ``transaction_price``)."""
    return [transaction_price(facts=i.facts, arbitrage=i.arbitrage, prices=i.prices) for i in items]


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
