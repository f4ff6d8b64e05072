"""No RPC call ever runs inside a database transaction: both scanners, their reorg rollbacks and backfills.

The client below is the real one, talking to anvil, except that it refuses to send
anything while Django's connection is inside ``atomic()``. The test database is not
wrapped in a transaction (``transaction=True``), so ``in_atomic_block`` is exactly
"a transaction of ours is open".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from django.db import connection

from chains.config import ChainConfig
from chains.models import Pool
from devnet.rpc import abi
from evm.rpc import ChainClient
from opportunities.models import Opportunity
from opportunities.scanner import market_forget, pool_scan_run
from scanning.loop import scan_range, scan_run
from scanning.registry import scan_kinds
from tests.chains.conftest import config_for
from tests.opportunities.devnet_support import FAST, TX_GAS_PRICE
from transactions.models import ArbitrageTransaction
from transactions.monitor import ArbitrageMonitor

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SIM = {"late_probability": 0.0}


class NoRpcInTransaction(ChainClient):
    """A ChainClient that fails (and remembers) any call made inside a database transaction."""

    violations: list[list[str]]

    def _dispatch(self, payload: Any, methods: Sequence[str], check: Any) -> Any:
        if connection.in_atomic_block:
            self.violations.append(list(methods))
            raise AssertionError(f"RPC {list(methods)} inside a database transaction")
        return super()._dispatch(payload, methods, check)


def _client(config: ChainConfig) -> NoRpcInTransaction:
    client = NoRpcInTransaction.from_config(config, **FAST)
    assert isinstance(client, NoRpcInTransaction)
    client.violations = []
    return client


def _scan_both_to_head(config: ChainConfig, client: ChainClient, monitor: ArbitrageMonitor) -> None:
    for _ in range(50):
        pools = pool_scan_run(chain_id=56, config=config, client=client, max_blocks=10_000)
        txs = scan_run(56, monitor, config=config, client=client, max_blocks=10_000)
        if pools.to_block in (None, pools.head) and txs.to_block in (None, txs.head):
            return
    raise AssertionError("the scanners never reached the head")


def test_no_rpc_inside_a_transaction_live_reorg_and_backfill(devnet_56_fresh: Any) -> None:
    net = devnet_56_fresh
    config = config_for(net)
    client = _client(config)
    monitor = ArbitrageMonitor(config=config, client=client)
    try:
        # Live: the first runs (registry, reserves, token metadata), then new blocks with swaps and arbitrages.
        _scan_both_to_head(config, client, monitor)
        net.simulate(4, seed=41, **SIM)
        # A pool created while scanning: discovery, token metadata and the fee probe all read the chain.
        deployer = net.manifest["accounts"]["deployer"]
        dex = next(d for d in net.manifest["dexes"] if d["name"] == "Biswap")
        tokens = {t["symbol"]: t["address"] for t in net.manifest["tokens"]}
        net.chain.send(deployer, dex["factory"], abi("V2Factory").createPair.encode(tokens["CAKE"], tokens["USDT"]),
                       gas=6_000_000, gas_price=TX_GAS_PRICE)  # fmt: skip
        net.mine()
        pools_before = Pool.objects.filter(chain_id=56).count()
        _scan_both_to_head(config, client, monitor)
        assert Pool.objects.filter(chain_id=56).count() == pools_before + 1
        fork_point = net.block_number()

        # A reorg: both scanners read what their rollback needs before its transaction.
        snapshot = net.snapshot()
        net.simulate(4, seed=42, **SIM)
        _scan_both_to_head(config, client, monitor)
        net.revert(snapshot)
        net.simulate(5, seed=43, **SIM)
        pool_report = pool_scan_run(chain_id=56, config=config, client=client, max_blocks=10_000)
        tx_report = scan_run(56, monitor, config=config, client=client, max_blocks=10_000)
        assert pool_report.reorg is not None and tx_report.reorg is not None
        assert pool_report.reorg.common_ancestor == fork_point == tx_report.reorg.common_ancestor
        live_opportunities = set(Opportunity.objects.values_list("pool_address", "block_number", "block_hash"))
        live_transactions = set(ArbitrageTransaction.objects.values_list("tx_hash", "block_hash"))
        assert live_opportunities and live_transactions

        # Backfill of every registered kind over the whole history, from an empty store.
        head = net.block_number()
        start = int(net.manifest["deployed_at_block"])
        Opportunity.objects.all().delete()
        ArbitrageTransaction.objects.all().delete()
        market_forget()
        for kind in scan_kinds():
            processor = kind.backfill_processor(config, client, {})
            scan_range(56, processor, from_block=start, to_block=head, chunk_blocks=7, config=config, client=client)
        # Backfilled rows were detected at their block's time, not now: history sorts among its own time.
        times = {h.number: h.timestamp for h in client.get_block_headers(list(range(start, head + 1)))}
        for number, detected in Opportunity.objects.values_list("block_number", "detected_at"):
            assert detected.timestamp() == times[number]
        for number, detected in ArbitrageTransaction.objects.values_list("block_number", "detected_at"):
            assert detected.timestamp() == times[number]
        # History replayed gives what the live scanners kept (the orphaned branch's rows are gone from both).
        assert set(Opportunity.objects.values_list("pool_address", "block_number", "block_hash")) == live_opportunities
        assert set(ArbitrageTransaction.objects.values_list("tx_hash", "block_hash")) == live_transactions
    finally:
        client.close()
    assert client.violations == []
