"""The migrations that add aggregates fill them from the rows already stored, like a rebuild would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from api.addresses import checksum
from api.aggregates import aggregates_rebuild
from api.models import ContractBucket, TransactionPool, WindowState, WindowTotal
from api.windows import WINDOWS, window_start, windows_reset
from tests.factories import ArbitrageTransactionFactory, ChainFactory
from transactions.models import ArbitrageTransaction

BEFORE = ("api", "0004_detection_links")
CONTRACT_A, CONTRACT_B = checksum("0x" + "ca" * 20), checksum("0x" + "cb" * 20)


def _migrate(target: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _contract_state() -> tuple[list[tuple], list[tuple]]:
    buckets = sorted(
        (b.chain_id, b.span, b.start, b.contract, b.tx_count, round(b.net_usd, 6), round(b.builder_native, 18))
        for b in ContractBucket.objects.all()
    )
    windows = sorted(
        (w.period, w.chain_id, w.key, w.tx_count, round(w.gross_usd, 6), round(w.net_usd, 6))
        for w in WindowTotal.objects.filter(board="contract")
    )
    return buckets, windows


@pytest.mark.django_db(transaction=True)
def test_contract_buckets_windows_and_pool_link_copies_are_filled_from_stored_rows() -> None:
    _migrate([BEFORE])
    try:
        chain = ChainFactory()
        now = datetime.now(UTC)
        for period in WINDOWS:  # windows already open when the migration runs
            WindowState.objects.create(period=period, start=window_start(period, now=now))
        for i in range(8):
            moment = now - timedelta(hours=9 * i)
            ArbitrageTransactionFactory(
                chain=chain,
                from_address=checksum("0x" + f"{i % 3 + 1:02x}" * 20),
                contract_address=(CONTRACT_A, CONTRACT_B, "")[i % 3],
                block_timestamp=moment,
                detected_at=moment,
                profit_gross_usd=Decimal(10 + i),
                profit_net_usd=Decimal(10 + i) - Decimal("0.75"),
                coinbase_transfer_wei=10**15 * i if i % 2 else None,
            )
        with connection.cursor() as cursor:  # the links as api 0004 left them (no copies yet)
            cursor.execute(
                f"INSERT INTO {TransactionPool._meta.db_table} (pool, detected_at, transaction_id) "
                "SELECT 'p', detected_at, id FROM transactions_arbitragetransaction"
            )
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    migrated = _contract_state()
    assert migrated[0] and {w[0] for w in migrated[1]} == {"1d", "7d", "30d"}
    assert not ContractBucket.objects.filter(contract="").exists()
    copies = set(TransactionPool.objects.values_list("transaction_id", "profit_net_usd", "swap_count"))
    assert copies == set(ArbitrageTransaction.objects.values_list("pk", "profit_net_usd", "swap_count"))
    aggregates_rebuild()
    windows_reset(now=now)  # the windows as they were opened (not moved by an hour passing meanwhile)
    assert _contract_state() == migrated
