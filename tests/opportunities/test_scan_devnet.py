"""The pool scanner on the shared scan loop, against a real anvil: reorgs, overlapping runs, RPC failures,
crashes, broadcasts after commit, the Celery task."""

from __future__ import annotations

from typing import Any

import pytest

from chains.config import ChainConfig
from chains.models import ConcentratedPoolState, Pool, ScanCursor, ScannedBlock
from chains.pools import pool_reserves_rollback
from evm.rpc import ChainClient, RpcError
from opportunities import services
from opportunities.models import Opportunity
from opportunities.scanner import PoolScanner, market_forget, pool_scan_run
from opportunities.serializers import opportunity_data
from opportunities.tasks import scan_pools
from scanning.loop import chain_lock
from tests.chains.conftest import config_for
from tests.chains.faulty_rpc import FaultyRpc
from tests.opportunities.devnet_support import client_for, reserves_at, scan_to_head, tradable_pools

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

# No late bids: nothing stays pending in anvil's pool across a snapshot revert.
SIM = {"late_probability": 0.0}


def opportunity_rows(chain_id: int) -> set[tuple[Any, ...]]:
    return {
        (o.pool_address, o.block_number, o.block_hash, o.profit_raw, o.amount_in, tuple(o.path_pools), o.profit_usd)
        for o in Opportunity.objects.filter(chain_id=chain_id)
    }


def rescan_from_scratch(config: ChainConfig, client: ChainClient) -> set[tuple[Any, ...]]:
    """What a scanner that never saw any fault, crash or reorg stores for the current chain."""
    chain_id = config.chain_id
    Opportunity.objects.filter(chain_id=chain_id).delete()
    ScanCursor.objects.filter(chain_id=chain_id, kind="pools").delete()
    ScannedBlock.objects.filter(chain_id=chain_id, kind="pools").delete()
    Pool.objects.filter(chain_id=chain_id).update(reserve0=0, reserve1=0, last_block=None)
    ConcentratedPoolState.objects.filter(pool__chain_id=chain_id).delete()  # rebuilt from the pools' events
    market_forget()
    scan_to_head(config, client)
    return opportunity_rows(chain_id)


def assert_reserves_are_the_chains(net: Any, client: ChainClient, chain_id: int) -> None:
    stored = {p.address: (p.reserve0, p.reserve1) for p in Pool.objects.filter(chain_id=chain_id)}
    on_chain = reserves_at(client, list(tradable_pools(net)), client.block_number())
    assert {p: stored[p] for p in on_chain} == on_chain


def test_reorg_removes_orphaned_opportunities_and_restores_reserves(
    net: Any, config: ChainConfig, client: ChainClient
) -> None:
    scan_to_head(config, client)
    fork_point = net.block_number()
    snapshot = net.snapshot()
    net.simulate(6, seed=21, **SIM)
    scan_to_head(config, client)
    orphaned = {(o.block_number, o.block_hash) for o in Opportunity.objects.filter(block_number__gt=fork_point)}
    assert orphaned, "the orphaned branch should have had opportunities"

    net.revert(snapshot)  # the chain forgets 6 blocks and grows another branch of 8
    net.simulate(8, seed=22, **SIM)
    reports = scan_to_head(config, client)

    reorg = reports[0].reorg
    assert reorg is not None and reorg.common_ancestor == fork_point and reorg.depth == 6
    kept = Opportunity.objects.filter(chain_id=56, block_number__gt=fork_point)
    assert kept.exists()
    canonical = {n: client.get_block_header(n).hash for n in {o.block_number for o in kept}}
    assert all(o.block_hash == canonical[o.block_number] for o in kept)
    assert not orphaned & {(o.block_number, o.block_hash) for o in kept}
    assert_reserves_are_the_chains(net, client, 56)
    # Exactly what a scanner that only ever saw the new branch stores.
    assert opportunity_rows(56) == rescan_from_scratch(config, client)


def test_a_run_while_another_holds_the_chain_exits_at_once(
    net: Any, config: ChainConfig, client: ChainClient, settings: Any
) -> None:
    settings.CHAIN_REGISTRY_FILES = [str(net.manifest_path)]
    with chain_lock(56, "pools") as held:
        assert held
        result = scan_pools(56)  # the Celery task, run in-process
    assert result["skipped"] and result["reason"] == "locked"
    assert not ScanCursor.objects.filter(chain_id=56, kind="pools").exists()

    # A run that starts while another is in the middle of its batch writes nothing.
    nested: list[Any] = []

    class Overlapping(PoolScanner):
        def write(self, batch: Any, plan: Any) -> int:
            nested.append(pool_scan_run(chain_id=56, config=config, client=client))
            return super().write(batch, plan)

    net.simulate(4, seed=23, **SIM)
    from scanning.loop import scan_run

    # Deployment is a few hundred blocks: one run reaches the head.
    report = scan_run(
        56, Overlapping(56, config=config, client=client), max_blocks=10_000, config=config, client=client
    )
    assert report.to_block == report.head
    assert [r.skipped for r in nested] == [True]

    result = scan_pools(56)  # and the task carries on from the cursor
    assert not result["skipped"] and result["reason"] == "nothing new" and result["lag"] == 0
    assert opportunity_rows(56) == rescan_from_scratch(config, client)


@pytest.mark.parametrize(
    ("mode", "options"),
    [("refuse", {}), ("slow", {"delay": 1.5}), ("http429", {"retry_after": "0"}), ("ratelimit", {})],
)
def test_rpc_failures_write_nothing_and_the_next_run_resumes(net: Any, mode: str, options: dict[str, Any]) -> None:
    proxy = FaultyRpc(net.rpc_url).start()
    try:
        config = config_for(net, rpc_urls=[proxy.url])
        client = client_for(config, timeout=0.5, max_retries=1)
        scan_to_head(config, client)
        net.simulate(5, seed=24, **SIM)
        cursor = ScanCursor.objects.get(chain_id=56, kind="pools")
        rows, reserves = opportunity_rows(56), list(Pool.objects.values_list("address", "reserve0", "reserve1"))

        proxy.set(mode, **options)
        with pytest.raises(RpcError):
            pool_scan_run(chain_id=56, config=config, client=client)
        assert ScanCursor.objects.get(chain_id=56, kind="pools").block_number == cursor.block_number
        assert opportunity_rows(56) == rows
        assert list(Pool.objects.values_list("address", "reserve0", "reserve1")) == reserves

        proxy.set("ratelimit", fail_times=1)  # a single hiccup is absorbed by the client's retry
        scan_to_head(config, client)
        assert proxy.faults >= 1
        assert ScanCursor.objects.get(chain_id=56, kind="pools").block_number == net.block_number()
        assert_reserves_are_the_chains(net, client, 56)
        assert opportunity_rows(56) == rescan_from_scratch(config, client)  # no gap, no duplicate
        client.close()
    finally:
        proxy.stop()


def test_a_crash_mid_batch_leaves_nothing_behind(
    net: Any, config: ChainConfig, client: ChainClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan_to_head(config, client)
    net.simulate(5, seed=25, **SIM)
    cursor = ScanCursor.objects.get(chain_id=56, kind="pools").block_number

    def crash(**_: Any) -> None:
        raise RuntimeError("worker killed")

    monkeypatch.setattr("opportunities.scanner.opportunity_record_many", crash)
    with pytest.raises(RuntimeError):
        pool_scan_run(chain_id=56, config=config, client=client)
    monkeypatch.undo()
    assert ScanCursor.objects.get(chain_id=56, kind="pools").block_number == cursor
    assert not Opportunity.objects.filter(block_number__gt=cursor).exists()

    scan_to_head(config, client)  # the in-memory market was dropped, rebuilt from the database
    assert_reserves_are_the_chains(net, client, 56)
    assert Opportunity.objects.filter(block_number__gt=cursor).exists()
    assert opportunity_rows(56) == rescan_from_scratch(config, client)


def test_new_opportunities_are_broadcast_once_after_commit(
    net: Any,
    config: ChainConfig,
    client: ChainClient,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    assert services._broadcaster() is not None  # the streaming app's broadcast_opportunity is wired
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(services, "_broadcaster", lambda: sent.append)
    scan_to_head(config, client)
    net.simulate(5, seed=26, **SIM)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = pool_scan_run(chain_id=56, config=config, client=client)
        assert sent == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    stored = list(Opportunity.objects.filter(block_number__gte=report.from_block).order_by("id"))
    assert stored and report.extra["opportunities"] == len(stored)
    assert sent == [opportunity_data(o) for o in stored]

    # The same blocks again (the cursor put back, as a retried batch would): no new rows, no new broadcast.
    ScanCursor.objects.filter(chain_id=56, kind="pools").update(
        block_number=report.from_block - 1, block_hash=client.get_block_header(report.from_block - 1).hash
    )
    market_forget()
    pool_reserves_rollback(chain_id=56, client=client, from_block=report.from_block)
    with django_capture_on_commit_callbacks(execute=True):
        again = pool_scan_run(chain_id=56, config=config, client=client)
    assert again.to_block == report.to_block and again.extra["opportunities"] == 0
    assert len(sent) == len(stored)


def test_management_command_catches_up_once(net: Any, settings: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    settings.CHAIN_REGISTRY_FILES = [str(net.manifest_path)]
    net.simulate(3, seed=27, **SIM)
    out = StringIO()
    call_command("scan_pools", "--chain", "56", "--once", "--catch-up", "--max-blocks", "50", stdout=out)
    assert "chain 56: blocks" in out.getvalue() and "lag 0" in out.getvalue()
    assert ScanCursor.objects.get(chain_id=56, kind="pools").block_number == net.block_number()


def test_a_scan_starting_mid_chain_reads_the_reserves_it_has_not_seen(
    net: Any, config: ChainConfig, client: ChainClient, settings: Any
) -> None:
    # Three blocks must leave an opportunity now that gas costs what the blocks paid (1-6 gwei on this devnet).
    settings.OPPORTUNITY_MIN_PROFIT_USD = 0.25
    net.simulate(6, seed=28, **SIM)
    start = net.block_number() - 2
    late = config_for(net, scan_start_block=start)
    scan_to_head(late, client)  # the pools' reserves at start - 1 come from one Multicall3 read
    assert_reserves_are_the_chains(net, client, 56)
    late_rows = opportunity_rows(56)
    assert late_rows and {row[1] for row in late_rows} <= {start, start + 1, start + 2}
    reference = {row for row in rescan_from_scratch(config, client) if row[1] >= start}
    assert late_rows == reference
