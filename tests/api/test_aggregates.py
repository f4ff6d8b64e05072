"""Aggregates follow the rows: added once inside the write, subtracted by a reorg, equal to a rebuild."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.db import transaction
from django.db.models import Q

from api.addresses import checksum
from api.aggregates import aggregates_rebuild
from api.models import BotBucket, ChainBucket, ContractBucket, PoolBucket, TokenBucket
from chains.signals import detections_written
from opportunities.models import Opportunity
from opportunities.services import opportunity_delete_from_block
from tests.api.helpers import T0, USDT, WBNB, record_opportunity, record_tx
from tests.factories import ChainFactory, PoolFactory
from transactions.models import ArbitrageTransaction
from transactions.services import transactions_rollback

pytestmark = pytest.mark.django_db

BOT_A, BOT_B = checksum("0x" + "a1" * 20), checksum("0x" + "b2" * 20)
CONTRACT_A, CONTRACT_B = checksum("0x" + "ca" * 20), checksum("0x" + "cb" * 20)


def snapshot() -> dict[str, list[tuple]]:
    """Every non-empty bucket row, as comparable tuples (decimals rounded as stored)."""

    def rows(model: type, key: str | None, values: tuple[str, ...]) -> list[tuple]:
        fields = ("chain_id", "span", "start", *((key,) if key else ()), *values)
        return sorted(
            tuple(round(Decimal(v), 6) if isinstance(v, (Decimal, float)) else v for v in row)
            for row in model.objects.values_list(*fields)
            if any(row[len(fields) - len(values) :])
        )

    return {
        "chain": rows(
            ChainBucket,
            None,
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
        "bot": rows(BotBucket, "sender", ("tx_count", "gross_usd", "gas_usd", "net_usd", "builder_native")),
        "contract": rows(ContractBucket, "contract", ("tx_count", "gross_usd", "gas_usd", "net_usd", "builder_native")),
        "pool": rows(PoolBucket, "pool", ("tx_count", "tx_gross_usd", "opp_count", "opp_profit_usd")),
        "token": rows(TokenBucket, "token", ("tx_count", "tx_gross_usd")),
    }


def test_written_transactions_are_counted_once_per_hour_day_bot_pool_and_token() -> None:
    ChainFactory()
    record_tx(n=1, sender=BOT_A, coinbase_wei=10**16, contract=CONTRACT_A)
    record_tx(n=2, sender=BOT_A, at=T0 + timedelta(minutes=50))  # next hour, same day; no contract recorded
    record_tx(n=3, sender=BOT_B, pools=("0x" + "01" * 20, "0x" + "03" * 20, "0x" + "01" * 20), contract=CONTRACT_A)
    hour = ChainBucket.objects.get(chain_id=56, span="h", start=T0.replace(minute=0))
    assert hour.tx_count == 2
    # net = gross - gas - builder payment (0.01 BNB = $6 for n=1)
    assert hour.gross_usd == Decimal("20") and hour.gas_usd == Decimal("1.2") and hour.net_usd == Decimal("12.8")
    assert (hour.builder_native, hour.builder_measured) == (Decimal("0.01"), 1)
    day = ChainBucket.objects.get(chain_id=56, span="d", start=T0.replace(hour=0, minute=0))
    assert (day.tx_count, day.net_usd) == (3, Decimal("22.2"))
    assert BotBucket.objects.get(span="d", sender=BOT_A).tx_count == 2
    # Two senders into one contract: one contract row; a transaction without a contract counts for none.
    contract = ContractBucket.objects.get(span="d", contract=CONTRACT_A)
    assert (contract.tx_count, contract.net_usd, contract.builder_native) == (2, Decimal("12.8"), Decimal("0.01"))
    assert ContractBucket.objects.filter(contract="").count() == 0
    # A pool twice in one transaction counts once for it.
    assert PoolBucket.objects.get(span="d", pool="0x" + "01" * 20).tx_count == 3
    assert TokenBucket.objects.get(span="d", token=WBNB).tx_count == 3
    assert TokenBucket.objects.get(span="d", token=USDT).tx_gross_usd == Decimal("30")


def test_a_duplicate_write_adds_nothing() -> None:
    ChainFactory()
    tx = record_tx(n=1)
    before = snapshot()
    from tests.api.helpers import PRICES
    from tests.factories import tx_arbitrage
    from transactions.services import TxFacts, transaction_record

    facts = TxFacts(tx.tx_hash, tx.from_address, tx.block_number, tx.block_hash, tx.block_timestamp, 1, 1)
    arb = tx_arbitrage(("0x" + "01" * 20,), USDT, 1, 2, (USDT, USDT))
    _, created = transaction_record(chain_id=56, facts=facts, arbitrage=arb, prices=PRICES, broadcast=False)
    assert not created
    assert snapshot() == before


def test_a_failing_write_leaves_no_aggregate_behind() -> None:
    """The receiver runs inside the write transaction: if the write fails after it, both roll back."""
    ChainFactory()

    def explode(**kwargs: object) -> None:
        raise RuntimeError("disk full")

    detections_written.connect(explode, dispatch_uid="test-explode")
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            record_tx(n=1)
    finally:
        detections_written.disconnect(dispatch_uid="test-explode")
    assert not ArbitrageTransaction.objects.exists()
    assert snapshot() == {"chain": [], "bot": [], "contract": [], "pool": [], "token": []}


def test_reorg_subtracts_what_it_removes_and_captures_are_recounted() -> None:
    ChainFactory()
    pool = PoolFactory(address="0x" + "01" * 20)
    opp = record_opportunity(pool=pool, block=998)
    later = record_opportunity(pool=pool, block=1002)
    hour = ChainBucket.objects.get(span="h", start=opp.detected_at.replace(minute=0, second=0, microsecond=0))
    assert (hour.opp_count, hour.opp_captured) == (2, 0)
    record_tx(n=1, block=999, at=T0)  # captures the opportunity of block 998 (window 3)
    record_tx(n=2, block=1010, at=T0)  # too late to capture anything
    assert Opportunity.objects.get(pk=opp.pk).captured
    hour.refresh_from_db()
    assert hour.opp_captured == 1
    assert snapshot() == _rebuilt()

    transactions_rollback(chain_id=56, from_block=999)  # both transactions go, the capture is released
    hour.refresh_from_db()
    assert hour.opp_captured == 0
    assert ChainBucket.objects.get(span="d", start=T0.replace(hour=0, minute=0)).tx_count == 0
    opportunity_delete_from_block(chain_id=56, from_block=1000)
    assert not Opportunity.objects.filter(pk=later.pk).exists()
    hour.refresh_from_db()
    assert hour.opp_count == 1
    assert snapshot() == _rebuilt()


def _rebuilt() -> dict[str, list[tuple]]:
    """The snapshot after a rebuild from the rows, leaving the incremental state as it was."""
    sid = transaction.savepoint()
    aggregates_rebuild()
    result = snapshot()
    transaction.savepoint_rollback(sid)
    return result


def test_incremental_aggregates_equal_a_rebuild_from_the_rows() -> None:
    ChainFactory()
    ChainFactory(chain_id=137, name="Polygon", native_symbol="POL")
    pool = PoolFactory(address="0x" + "01" * 20)
    for i in range(12):
        record_tx(
            n=i,
            sender=(BOT_A, BOT_B)[i % 2],
            block=2000 + i * 10,
            at=T0 + timedelta(hours=5 * i),
            profit=(i + 1) * 10**18,
            coinbase_wei=i * 10**15 if i % 3 else None,
            chain_id=56 if i % 4 else 137,
            contract=(CONTRACT_A, CONTRACT_B, "")[i % 3],
        )
        record_opportunity(pool=pool, block=2000 + i * 10 - 1, profit_usd=str(i + 0.5))
    incremental = snapshot()
    assert incremental["bot"] and incremental["contract"] and incremental["pool"] and incremental["token"]
    assert _rebuilt() == incremental


def windows_snapshot() -> list[tuple]:
    from api.models import WindowTotal

    return sorted(
        (w.period, w.board, w.chain_id, w.key, w.tx_count, round(w.gross_usd, 6), round(w.net_usd, 6), w.opp_count)
        for w in WindowTotal.objects.filter(Q(tx_count__gt=0) | Q(opp_count__gt=0))
    )


def test_rolling_windows_follow_writes_and_roll_forward_like_a_rebuild() -> None:
    from api.windows import window_roll, windows_reset

    ChainFactory()
    now = T0 + timedelta(days=2)
    windows_reset(now=now)  # built (empty) before the writes: the writes must add themselves
    pool = PoolFactory(address="0x" + "01" * 20)
    for i in range(10):
        record_tx(
            n=i,
            sender=(BOT_A, BOT_B)[i % 2],
            block=3000 + 10 * i,
            at=T0 + timedelta(hours=7 * i),
            contract=(CONTRACT_A, CONTRACT_B, "")[i % 3],
        )
        record_opportunity(pool=pool, block=3000 + 10 * i + 5)
    incremental = windows_snapshot()
    assert {row[0] for row in incremental} == {"1d", "7d", "30d"}
    assert {row[1] for row in incremental} == {"bot", "contract", "pool", "token"}
    sid = transaction.savepoint()
    windows_reset(now=now)
    assert windows_snapshot() == incremental
    transaction.savepoint_rollback(sid)
    later = now + timedelta(days=3, hours=5)  # 1d and 7d windows drop some buckets
    for period in ("1d", "7d", "30d"):
        window_roll(period, now=later)
    rolled = windows_snapshot()
    windows_reset(now=later)
    assert windows_snapshot() == rolled
    assert rolled != incremental


def test_the_command_rebuilds_buckets_and_side_tables_apart() -> None:
    from django.core.management import call_command

    from api.models import TransactionPool

    ChainFactory()
    for i in range(3):
        record_tx(n=i, sender=BOT_A, contract=CONTRACT_A, at=T0 + timedelta(hours=i))
    incremental = snapshot()
    links = set(TransactionPool.objects.values_list("pool", "transaction_id"))
    ContractBucket.objects.all().delete()
    TransactionPool.objects.all().delete()
    call_command("aggregates_rebuild", "--buckets-only", stdout=StringIO())
    assert snapshot() == incremental and not TransactionPool.objects.exists()
    call_command("aggregates_rebuild", "--links-only", stdout=StringIO())
    assert set(TransactionPool.objects.values_list("pool", "transaction_id")) == links
