"""The shared scan loop against a real anvil: cursor, batches, reorgs, lock, backfill."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from chains.config import ChainConfig
from chains.models import ScanCursor, ScannedBlock
from dexes.uniswap_v2.events import SWAP_TOPIC, SYNC_TOPIC
from evm.rpc import ChainClient
from scanning.loop import BlockBatch, chain_lock, scan_range, scan_run
from tests.chains.conftest import config_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@dataclass
class Recorder:
    """A processor that remembers what it was given."""

    kind: str = "transactions"
    wanted: list[list[str]] = field(default_factory=lambda: [[SYNC_TOPIC, SWAP_TOPIC]])
    batches: list[BlockBatch] = field(default_factory=list)
    rollbacks: list[tuple[int, int]] = field(default_factory=list)
    fail: bool = False

    def topics(self) -> list[list[str]]:
        return self.wanted

    def fetch(self, batch: BlockBatch) -> BlockBatch:
        return batch

    def compute(self, batch: BlockBatch, fetched: BlockBatch) -> BlockBatch:
        return fetched

    def write(self, batch: BlockBatch, computed: BlockBatch) -> int:
        self.batches.append(computed)
        if self.fail:
            raise RuntimeError("processor failed")
        return 0

    def rollback_fetch(self, chain_id: int, from_block: int) -> None:
        return None

    def rollback(self, chain_id: int, from_block: int, fetched: None) -> None:
        self.rollbacks.append((chain_id, from_block))

    @property
    def blocks(self) -> list[int]:
        return [h.number for b in self.batches for h in b.headers]


def _cursor(chain_id: int = 56, kind: str = "transactions") -> ScanCursor:
    return ScanCursor.objects.get(chain_id=chain_id, kind=kind)


def test_first_run_starts_at_deployment_and_advances(net56: Any, config56: ChainConfig, client56: ChainClient) -> None:
    head = client56.block_number()
    deployed = net56.manifest["deployed_at_block"]
    rec = Recorder()
    report = scan_run(56, rec, config=config56, client=client56, max_blocks=5)
    assert (report.from_block, report.to_block) == (deployed, deployed + 4)
    assert rec.blocks == list(range(deployed, deployed + 5))
    cursor = _cursor()
    assert cursor.block_number == deployed + 4 and cursor.head_block_number == head
    assert cursor.block_hash == client56.get_block_header(deployed + 4).hash

    report = scan_run(56, rec, config=config56, client=client56, max_blocks=head + 1)  # the rest, up to the head
    assert report.to_block == head and rec.blocks == list(range(deployed, head + 1))
    assert report.lag == 0
    # Logs handed over are exactly the chain's, sorted.
    logs = [log for b in rec.batches for log in b.logs]
    assert logs == client56.get_logs(deployed, head, topics=[[SYNC_TOPIC, SWAP_TOPIC]])

    # Every finished run stamps the cursor, with or without new blocks (readyz tells a stopped scanner by it).
    ScanCursor.objects.filter(kind=rec.kind).update(updated_at=timezone.now() - timedelta(hours=1))
    again = scan_run(56, rec, config=config56, client=client56)
    assert again.blocks == 0 and again.reason == "nothing new"
    assert timezone.now() - _cursor().updated_at < timedelta(minutes=5)


def test_start_is_configurable(net56: Any, client56: ChainClient) -> None:
    head = client56.block_number()
    rec = Recorder()
    scan_run(56, rec, config=config_for(net56, scan_start_block=head - 2), client=client56)
    assert rec.blocks == [head - 2, head - 1, head]


def test_journal_is_pruned_to_reorg_depth(
    net56: Any, config56: ChainConfig, client56: ChainClient, settings: Any
) -> None:
    settings.SCAN_REORG_DEPTH = 5
    net56.mine(12)
    head = client56.block_number()
    rec = Recorder()
    while scan_run(56, rec, config=config56, client=client56, max_blocks=4).blocks:
        pass
    numbers = sorted(ScannedBlock.objects.filter(chain_id=56, kind="transactions").values_list("number", flat=True))
    assert numbers == list(range(head - 4, head + 1))


def test_processor_failure_leaves_cursor_and_journal_untouched(
    net56: Any, config56: ChainConfig, client56: ChainClient
) -> None:
    rec = Recorder()
    scan_run(56, rec, config=config56, client=client56, max_blocks=3)
    before = _cursor()
    journal = ScannedBlock.objects.count()
    net56.mine(3)
    rec.fail = True
    with pytest.raises(RuntimeError):
        scan_run(56, rec, config=config56, client=client56)
    after = _cursor()
    assert (after.block_number, after.block_hash) == (before.block_number, before.block_hash)
    assert ScannedBlock.objects.count() == journal
    rec.fail = False
    report = scan_run(56, rec, config=config56, client=client56, max_blocks=2)
    assert report.from_block == before.block_number + 1  # resumes with no gap


def _mine_distinct(net: Any, blocks: int, salt: int) -> None:
    """Mine blocks whose hashes differ from any earlier fork's (distinct timestamps)."""
    for _ in range(blocks):
        latest = net.w3.eth.get_block("latest")
        net.chain.rpc("evm_mine", [latest["timestamp"] + 1 + salt])


def test_reorg_rolls_back_to_the_common_ancestor(net56: Any, client56: ChainClient, config56: ChainConfig) -> None:
    head = client56.block_number()
    rec = Recorder()
    scan_run(56, rec, config=config_for(net56, scan_start_block=head - 3), client=client56)
    ancestor = head
    snap = net56.snapshot()
    _mine_distinct(net56, 3, salt=0)
    scan_run(56, rec, config=config56, client=client56)
    assert _cursor().block_number == ancestor + 3
    orphaned = {h.number: h.hash for h in client56.get_block_headers([ancestor + 1, ancestor + 2, ancestor + 3])}

    net56.revert(snap)  # the other fork: longer, different blocks from ancestor + 1
    _mine_distinct(net56, 5, salt=7)
    assert client56.get_block_header(ancestor + 1).hash != orphaned[ancestor + 1]

    rec.batches.clear()
    report = scan_run(56, rec, config=config56, client=client56)
    assert report.reorg is not None
    assert report.reorg.common_ancestor == ancestor and report.reorg.orphaned_from == ancestor + 1
    assert rec.rollbacks == [(56, ancestor + 1)]
    assert rec.blocks == list(range(ancestor + 1, ancestor + 6))  # the new fork, re-processed
    cursor = _cursor()
    assert cursor.block_number == ancestor + 5
    assert cursor.block_hash == client56.get_block_header(ancestor + 5).hash
    journal = dict(ScannedBlock.objects.filter(chain_id=56, kind="transactions").values_list("number", "hash"))
    assert all(journal[n] != h for n, h in orphaned.items())


def test_reorg_to_a_shorter_chain(net56: Any, client56: ChainClient, config56: ChainConfig) -> None:
    head = client56.block_number()
    rec = Recorder()
    scan_run(56, rec, config=config_for(net56, scan_start_block=head), client=client56)
    snap = net56.snapshot()
    _mine_distinct(net56, 4, salt=0)
    scan_run(56, rec, config=config56, client=client56)
    net56.revert(snap)
    _mine_distinct(net56, 1, salt=9)  # the cursor block (head + 4) no longer exists
    report = scan_run(56, rec, config=config56, client=client56)
    assert report.reorg is not None and report.reorg.common_ancestor == head
    assert rec.rollbacks == [(56, head + 1)]
    assert _cursor().block_number == head + 1


class StaleHead(ChainClient):
    """A node behind the others (a lagging replica behind a load balancer): its eth_blockNumber is old."""

    stale_by = 0

    def block_number(self) -> int:
        return super().block_number() - self.stale_by


def test_a_stale_head_is_not_a_reorg(net56: Any, client56: ChainClient, config56: ChainConfig) -> None:
    """Issue 11 #5: a head below the cursor on the same chain deleted the cursor's rows, stored them again later."""
    head = client56.block_number()
    rec = Recorder()
    scan_run(56, rec, config=config_for(net56, scan_start_block=head - 3), client=client56)
    _mine_distinct(net56, 3, salt=0)
    scan_run(56, rec, config=config56, client=client56)
    before = _cursor()
    stale = StaleHead.from_config(config56, timeout=5.0, max_retries=0)
    try:
        stale.stale_by = 2
        report = scan_run(56, rec, config=config56, client=stale)
        assert report.reorg is None and report.reason == "node behind the cursor"
        assert rec.rollbacks == []
        stale.stale_by = 200  # older than the reorg journal: still only behind
        assert scan_run(56, rec, config=config56, client=stale).reorg is None
    finally:
        stale.close()
    after = _cursor()
    assert (after.block_number, after.block_hash) == (before.block_number, before.block_hash)
    _mine_distinct(net56, 2, salt=1)
    report = scan_run(56, rec, config=config56, client=client56)
    assert report.reorg is None and rec.rollbacks == [] and report.to_block == before.block_number + 2


def test_overlapping_run_exits_at_once(net56: Any, config56: ChainConfig, client56: ChainClient) -> None:
    rec = Recorder()
    with chain_lock(56, "transactions") as held:
        assert held
        report = scan_run(56, rec, config=config56, client=client56)
        assert report.skipped and report.reason == "locked"
        assert rec.batches == []
        # Another kind of the same chain is independent.
        assert not scan_run(56, Recorder(kind="pools"), config=config56, client=client56).skipped
    assert not scan_run(56, rec, config=config56, client=client56).skipped


def test_scan_range_backfills_without_moving_the_cursor(
    net56: Any, config56: ChainConfig, client56: ChainClient
) -> None:
    head = client56.block_number()
    live = Recorder()
    scan_run(56, live, config=config_for(net56, scan_start_block=head - 1), client=client56)
    cursor = _cursor()
    journal = ScannedBlock.objects.count()
    backfill = Recorder()
    deployed = net56.manifest["deployed_at_block"]
    report = scan_range(
        56, backfill, from_block=deployed, to_block=head, chunk_blocks=10, config=config56, client=client56
    )
    assert backfill.blocks == list(range(deployed, head + 1))
    assert all(not b.live for b in backfill.batches)
    assert report.blocks == head - deployed + 1
    assert (_cursor().block_number, _cursor().block_hash) == (cursor.block_number, cursor.block_hash)
    assert ScannedBlock.objects.count() == journal


def test_rpc_requests_per_run_do_not_grow_with_blocks_or_pools(
    net56: Any, config56: ChainConfig, client56: ChainClient
) -> None:
    rec = Recorder()
    scan_run(56, rec, config=config_for(net56, scan_start_block=client56.block_number()), client=client56)
    costs = []
    with net56.simulator(seed=3) as sim:
        for blocks in (1, 5, 25):
            sim.simulate_blocks(blocks)
            report = scan_run(56, rec, config=config56, client=client56)
            assert report.blocks == blocks and report.logs > 0
            costs.append(report.rpc_requests)
    # head + (cursor header and new headers in one batch) + one ranged eth_getLogs
    assert costs == [3, 3, 3]


@dataclass
class Staged(Recorder):
    """Records each pipeline step with the batch it got and the database transaction depth it ran at."""

    calls: list[tuple[str, int, int]] = field(default_factory=list)  # (step, id(batch), atomic depth)
    fail_fetch: bool = False

    def _record(self, step: str, batch: BlockBatch) -> None:
        from django.db import connection

        self.calls.append((step, id(batch), len(connection.atomic_blocks)))

    def fetch(self, batch: BlockBatch) -> BlockBatch:
        self._record("fetch", batch)
        if self.fail_fetch:
            raise RuntimeError("fetch failed")
        return batch

    def compute(self, batch: BlockBatch, fetched: BlockBatch) -> BlockBatch:
        self._record("compute", batch)
        return fetched

    def write(self, batch: BlockBatch, computed: BlockBatch) -> int:
        self._record("write", batch)
        return super().write(batch, computed)


def _steps_in_order(calls: list[tuple[str, int, int]]) -> None:
    assert [c[0] for c in calls] == ["fetch", "compute", "write"] * (len(calls) // 3)
    for fetched, computed, written in zip(calls[::3], calls[1::3], calls[2::3], strict=True):
        assert fetched[1] == computed[1] == written[1]  # the very same batch object
        assert fetched[2] == computed[2] < written[2]  # fetch and compute run before the batch's transaction opens


def test_scan_run_fetches_each_batch_outside_its_transaction(
    net56: Any, config56: ChainConfig, client56: ChainClient
) -> None:
    rec = Staged()
    scan_run(56, rec, config=config56, client=client56, max_blocks=3)
    scan_run(56, rec, config=config56, client=client56, max_blocks=3)
    assert len(rec.calls) == 6
    _steps_in_order(rec.calls)


def test_scan_range_fetches_each_chunk_outside_its_transaction(
    net56: Any, config56: ChainConfig, client56: ChainClient
) -> None:
    head = client56.block_number()
    rec = Staged()
    scan_range(56, rec, from_block=head - 5, to_block=head, chunk_blocks=2, config=config56, client=client56)
    assert rec.blocks == list(range(head - 5, head + 1))
    assert len(rec.calls) == 9
    _steps_in_order(rec.calls)


def test_failed_fetch_writes_nothing(net56: Any, config56: ChainConfig, client56: ChainClient) -> None:
    rec = Staged()
    scan_run(56, rec, config=config56, client=client56, max_blocks=3)
    before = _cursor()
    journal = ScannedBlock.objects.count()
    net56.mine(2)
    rec.fail_fetch = True
    with pytest.raises(RuntimeError, match="fetch failed"):
        scan_run(56, rec, config=config56, client=client56)
    assert rec.calls[-1][0] == "fetch"  # nothing else ran
    after = _cursor()
    assert (after.block_number, after.block_hash) == (before.block_number, before.block_hash)
    assert ScannedBlock.objects.count() == journal
