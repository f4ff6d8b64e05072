"""The block-scanning loop shared by the pool scanner and the transaction monitor.

A scanner is a ``BlockProcessor``: a kind, the log topics it wants, and a
pipeline that ``batch_process`` runs for each batch of blocks:
**fetch** (all RPC, no database transaction open) → **compute** (pure) →
**write** (one transaction, with the cursor) → **broadcast** (on commit, by the
shared write path ``scanning.detections``). ``scan_run`` owns everything else:

1. a per-chain, per-kind Redis lock (a second run exits at once);
2. the cursor (last processed block number and hash) in the database;
3. reorg detection: the cursor block's hash is re-read in the same batch as the
   new headers; when it changed, ``ScannedBlock`` (the journal of recent
   hashes) is walked back to the common ancestor, ``processor.rollback_fetch``
   reads what the rollback needs, then ``processor.rollback`` forgets the
   orphaned blocks and the cursor moves back, all in one DB transaction;
4. a bounded batch: headers in one batched call, the processor's logs in one
   ranged call (eth_getLogs or eth_getBlockReceipts per chain configuration),
   checked to belong to the same fork as the headers;
5. ``batch_process``: the processor's fetch and compute OUTSIDE any database
   transaction (no RPC round trip ever holds the database write lock), then its
   write and the cursor/journal advance in ONE database transaction, so a crash
   leaves either all of a batch or none of it.

``scan_range`` runs the same processing over an explicit range for backfills
without touching the cursor or the journal.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from arbmonitor import metrics
from chains.clients import chain_client
from chains.config import ChainConfig, registry_load
from chains.models import Chain, ScanCursor, ScannedBlock
from evm.rpc import BlockHeader, ChainClient, LogRecord, ReorgDuringFetch, header_from_json

logger = logging.getLogger(__name__)

KINDS = ("pools", "transactions")


@dataclass(frozen=True)
class BlockBatch:
    """Consecutive blocks of one chain and the logs the processor asked for."""

    chain: ChainConfig
    client: ChainClient
    headers: list[BlockHeader]
    logs: list[LogRecord]
    live: bool = True  # False for backfills (scan_range): processors may skip live-only work

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    @property
    def from_block(self) -> int:
        return self.headers[0].number

    @property
    def to_block(self) -> int:
        return self.headers[-1].number

    def header(self, number: int) -> BlockHeader:
        return self.headers[number - self.from_block]


@runtime_checkable
class BlockProcessor(Protocol):
    """One scanner kind, as a pipeline the loop drives (``batch_process``):

    ``fetch`` (every RPC read, no database transaction open) → ``compute`` (pure:
    plain data in, plain data out, no ORM, no I/O) → ``write`` (inside the one
    transaction that also advances the cursor; the shared write path broadcasts
    on commit). A reorg runs ``rollback_fetch`` (reads) then ``rollback`` (writes,
    in the transaction that moves the cursor back).
    """

    kind: str

    def topics(self) -> list[list[str]]:
        """eth_getLogs topic filter (position → alternatives), e.g. ``[[SYNC_TOPIC, SWAP_TOPIC]]``; [] = no logs."""
        ...

    def fetch(self, batch: BlockBatch) -> Any:
        """Everything the batch needs from the chain (and the database's current state), outside any transaction."""
        ...

    def compute(self, batch: BlockBatch, fetched: Any) -> Any:
        """The detections, from what ``fetch`` returned: pure."""
        ...

    def write(self, batch: BlockBatch, computed: Any) -> int:
        """Store what ``compute`` returned; runs inside the transaction that advances the cursor. Rows created."""
        ...

    def rollback_fetch(self, chain_id: int, from_block: int) -> Any:
        """What a rollback to ``from_block`` needs from the chain (read before its transaction opens)."""
        ...

    def rollback(self, chain_id: int, from_block: int, fetched: Any) -> None:
        """Delete this kind's detections from blocks >= from_block; same transaction as the cursor move."""
        ...


def batch_process(processor: BlockProcessor, batch: BlockBatch, *, advance: Callable[[], None] | None = None) -> int:
    """One batch through the pipeline; returns the rows created.

    A failure in any step writes nothing (the transaction rolls back; the next run redoes the batch).
    """
    fetched = processor.fetch(batch)  # 1. fetch: all RPC, no database transaction open
    computed = processor.compute(batch, fetched)  # 2. compute: pure
    with transaction.atomic():  # 3. write: one transaction, with the cursor's advance
        stored = processor.write(batch, computed)
        if advance is not None:
            advance()
    return stored  # 4. broadcast: the shared write path's on-commit hook (scanning.detections)


@dataclass
class ReorgReport:
    cursor_block: int
    common_ancestor: int
    orphaned_from: int
    depth: int
    journal_exhausted: bool = False


@dataclass
class ScanReport:
    chain_id: int
    kind: str
    skipped: bool = False  # another run held the lock
    from_block: int | None = None
    to_block: int | None = None
    head: int | None = None
    blocks: int = 0
    logs: int = 0
    rpc_requests: int = 0
    stored: int = 0  # rows created (opportunities or arbitrage transactions)
    reorg: ReorgReport | None = None
    reason: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def lag(self) -> int | None:
        if self.head is None:
            return None
        last = self.to_block if self.to_block is not None else self.extra.get("cursor")
        return None if last is None else max(self.head - int(last), 0)  # type: ignore[call-overload]

    def task_result(self, **extra: Any) -> dict[str, Any]:
        """What a scan task returns (Celery logs it): the range, the head, the kind's own figures, why it stopped."""
        return {
            "chain_id": self.chain_id,
            "skipped": self.skipped,
            "from_block": self.from_block,
            "to_block": self.to_block,
            "head": self.head,
            **extra,
            "reorg": bool(self.reorg),
            "reason": self.reason,
        }


# --- lock ---------------------------------------------------------------------------------

_REDIS: dict[str, redis.Redis] = {}
_REDIS_LOCK = threading.Lock()


def redis_client() -> redis.Redis:
    url = settings.REDIS_URL
    with _REDIS_LOCK:
        client = _REDIS.get(url)
        if client is None:
            client = _REDIS[url] = redis.Redis.from_url(url)
        return client


def lock_name(chain_id: int, kind: str) -> str:
    return f"arbmonitor:scan-lock:{chain_id}:{kind}"


@contextlib.contextmanager
def chain_lock(chain_id: int, kind: str, *, timeout: float | None = None) -> Iterator[bool]:
    """Hold the scan lock of (chain, kind) if it is free; yields whether it was acquired.

    Non-blocking: a second run of the same chain/kind gets ``False`` at once.
    The lock expires after ``timeout`` (SCAN_LOCK_TIMEOUT_SECONDS) so a killed
    worker cannot wedge a chain; the cursor update is conditional, so a run that
    outlived its lock cannot overwrite a newer run's progress.
    """
    timeout = timeout if timeout is not None else settings.SCAN_LOCK_TIMEOUT_SECONDS
    lock = redis_client().lock(lock_name(chain_id, kind), timeout=timeout, blocking=False)
    acquired = lock.acquire(blocking=False)
    if not acquired:
        logger.info("chain %s/%s: another scan holds the lock; exiting", chain_id, kind)
        yield False
        return
    try:
        yield True
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            logger.warning("chain %s/%s: the scan lock expired before the run ended", chain_id, kind)


# --- config and start block ----------------------------------------------------------------


def chain_config_get(chain_id: int) -> ChainConfig:
    chains = registry_load()
    if chain_id not in chains:
        raise ImproperlyConfigured(f"chain {chain_id} is not in the chain registry (CHAIN_REGISTRY_FILES)")
    return chains[chain_id]


def scan_start_block(config: ChainConfig, *, head: int) -> int:
    """First block of a chain's first scan.

    ``scan_start_block`` in the registry entry wins, then ``deployed_at_block``
    (devnet manifests), then ``head - SCAN_START_LOOKBACK_BLOCKS``.
    """
    for key in ("scan_start_block", "deployed_at_block"):
        value = config.extra.get(key)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ImproperlyConfigured(f"{config.source}: {key} must be a block number, got {value!r}")
            return min(value, head)
    lookback = int(settings.SCAN_START_LOOKBACK_BLOCKS)
    return max(head - lookback, 0)


def _ensure_chain_row(config: ChainConfig) -> None:
    if not Chain.objects.filter(chain_id=config.chain_id).exists():
        from chains.services import chain_registry_sync

        chain_registry_sync(config=config)


# --- reorg ---------------------------------------------------------------------------------


def _find_common_ancestor(client: ChainClient, *, chain_id: int, kind: str, below: int) -> tuple[BlockHeader, bool]:
    """Highest journaled block below ``below`` whose hash is still canonical.

    Returns (header, journal_exhausted). When no journaled block matches (a
    reorg deeper than SCAN_REORG_DEPTH), the block just below the oldest
    journal entry is taken, unverified, and the caller logs an error.
    """
    journal = list(
        ScannedBlock.objects.filter(chain_id=chain_id, kind=kind, number__lt=below)
        .order_by("-number")
        .values_list("number", "hash")
    )
    step = max(int(settings.RPC_BATCH_SIZE), 1)
    for start in range(0, len(journal), step):
        part = journal[start : start + step]
        # Blocks above a shortened chain's head come back as null: not an ancestor.
        raws = client.batch([("eth_getBlockByNumber", [hex(n), False]) for n, _ in part])
        for (_number, stored), raw in zip(part, raws, strict=True):
            if raw is not None and raw["hash"].lower() == stored.lower():
                return header_from_json(raw), False
    oldest = journal[-1][0] if journal else below
    return client.get_block_header(max(oldest - 1, 0)), True


def _check_chain(headers: list[BlockHeader], parent_hash: str | None) -> None:
    previous = parent_hash
    for header in headers:
        if previous is not None and header.parent_hash != previous:
            raise ReorgDuringFetch(f"block {header.number} does not extend block {header.number - 1} as fetched")
        previous = header.hash


def _check_logs(headers: list[BlockHeader], logs: list[LogRecord]) -> None:
    hashes = {h.number: h.hash for h in headers}
    for log in logs:
        if hashes.get(log.block_number) != log.block_hash:
            raise ReorgDuringFetch(f"log of block {log.block_number} has hash {log.block_hash}, header says otherwise")


def _fetch_batch(
    client: ChainClient, processor: BlockProcessor, *, numbers: list[int], parent_hash: str | None
) -> tuple[list[BlockHeader], list[LogRecord]]:
    headers = client.get_block_headers(numbers)
    _check_chain(headers, parent_hash)
    topics = processor.topics()
    logs = client.get_logs(numbers[0], numbers[-1], topics=topics) if topics else []
    _check_logs(headers, logs)
    return headers, logs


def _journal_write(*, chain_id: int, kind: str, headers: list[BlockHeader]) -> None:
    numbers = [h.number for h in headers]
    ScannedBlock.objects.filter(chain_id=chain_id, kind=kind, number__gte=numbers[0], number__lte=numbers[-1]).delete()
    ScannedBlock.objects.bulk_create(
        [ScannedBlock(chain_id=chain_id, kind=kind, number=h.number, hash=h.hash) for h in headers]
    )
    depth = int(settings.SCAN_REORG_DEPTH)
    ScannedBlock.objects.filter(chain_id=chain_id, kind=kind, number__lte=numbers[-1] - depth).delete()


class CursorMoved(Exception):  # noqa: N818 - the agreed API name
    """Another run advanced the cursor while this one worked (its lock had expired)."""


def _cursor_advance(*, chain_id: int, kind: str, previous: ScanCursor | None, header: BlockHeader, head: int) -> None:
    if previous is None:
        ScanCursor.objects.create(
            chain_id=chain_id, kind=kind, block_number=header.number, block_hash=header.hash, head_block_number=head
        )
        return
    updated = ScanCursor.objects.filter(
        pk=previous.pk, block_number=previous.block_number, block_hash=previous.block_hash
    ).update(block_number=header.number, block_hash=header.hash, head_block_number=head, updated_at=timezone.now())
    if updated != 1:
        raise CursorMoved(f"chain {chain_id}/{kind}: the cursor moved under this run")


# --- the loop --------------------------------------------------------------------------------


@metrics.scan_timed
def scan_run(
    chain_id: int,
    processor: BlockProcessor,
    *,
    max_blocks: int | None = None,
    to_block: int | None = None,
    config: ChainConfig | None = None,
    client: ChainClient | None = None,
) -> ScanReport:
    """Process the next bounded batch of blocks of one chain for one processor kind.

    Safe to call from overlapping tasks (the lock makes the second one return a
    ``skipped`` report) and after a crash (the cursor and the processor's rows
    commit together).
    """
    kind = processor.kind
    if kind not in KINDS:
        raise ValueError(f"processor kind must be one of {KINDS}, got {kind!r}")
    report = ScanReport(chain_id=chain_id, kind=kind)
    with chain_lock(chain_id, kind) as acquired:
        if not acquired:
            report.skipped = True
            report.reason = "locked"
            return report
        config = config or chain_config_get(chain_id)
        client = client or chain_client(config)
        requests_before = client.request_count
        try:
            _scan_locked(config, client, processor, report, max_blocks=max_blocks, to_block=to_block)
        except ReorgDuringFetch as exc:
            # The chain changed between two of our reads: nothing was written; the next run sees the reorg.
            logger.warning("chain %s/%s: %s; will retry next run", chain_id, kind, exc)
            report.reason = f"reorg during fetch: {exc}"
        report.rpc_requests = client.request_count - requests_before
    return report


def _scan_locked(
    config: ChainConfig,
    client: ChainClient,
    processor: BlockProcessor,
    report: ScanReport,
    *,
    max_blocks: int | None,
    to_block: int | None,
) -> None:
    chain_id, kind = config.chain_id, processor.kind
    _ensure_chain_row(config)
    head = client.block_number()
    report.head = head
    limit = max_blocks or int(settings.SCAN_MAX_BLOCKS_PER_RUN)
    target = head if to_block is None else min(to_block, head)
    cursor = ScanCursor.objects.filter(chain_id=chain_id, kind=kind).first()

    if cursor is None:
        start = scan_start_block(config, head=head)
        end = min(target, start + limit - 1)
        if end < start:
            report.reason = "nothing new"
            return
        headers, logs = _fetch_batch(client, processor, numbers=list(range(start, end + 1)), parent_hash=None)
        _commit(config, client, processor, report, cursor=None, headers=headers, logs=logs, head=head)
        return

    if cursor.block_number > head and _node_is_behind(client, cursor=cursor, head=head):
        # A lagging node (or a stale replica behind a load balancer) is not a reorg: its chain is a prefix
        # of ours. Rolling back would delete rows that a later run stores, and broadcasts, again.
        logger.warning(
            "chain %s/%s: the node's head %d is below the cursor %d on the same chain; waiting",
            chain_id, kind, head, cursor.block_number,
        )  # fmt: skip
        report.reason = "node behind the cursor"
        report.extra["cursor"] = cursor.block_number
        return
    start = cursor.block_number + 1
    end = min(target, start + limit - 1)
    # The cursor block's header rides in the same batch as the new ones: reorg check for free.
    fetched = (
        client.get_block_headers([cursor.block_number, *range(start, end + 1)]) if cursor.block_number <= head else []
    )
    if not fetched or fetched[0].hash != cursor.block_hash.lower():
        current = fetched[0].hash if fetched else "(beyond the head)"
        cursor = _reorg_rollback(client, processor, report, cursor=cursor, current=current)
        start = cursor.block_number + 1
        end = min(target, start + limit - 1)
        if end < start:
            return
        headers, logs = _fetch_batch(
            client, processor, numbers=list(range(start, end + 1)), parent_hash=cursor.block_hash
        )
    else:
        headers = fetched[1:]
        if not headers:
            # updated_at = the last run that finished (readyz's stalled check; .update() skips auto_now).
            ScanCursor.objects.filter(pk=cursor.pk).update(head_block_number=head, updated_at=timezone.now())
            report.reason = "nothing new"
            report.extra["cursor"] = cursor.block_number
            return
        _check_chain(headers, cursor.block_hash.lower())
        topics = processor.topics()
        logs = client.get_logs(start, end, topics=topics) if topics else []
        _check_logs(headers, logs)
    _commit(config, client, processor, report, cursor=cursor, headers=headers, logs=logs, head=head)


def _node_is_behind(client: ChainClient, *, cursor: ScanCursor, head: int) -> bool:
    """The node's head is below the cursor: is it merely behind (its head block is the one we journaled, or
    older than the journal) rather than on a shorter fork (its head block differs from ours)?"""
    journaled = (
        ScannedBlock.objects.filter(chain_id=cursor.chain_id, kind=cursor.kind, number=head)
        .values_list("hash", flat=True)
        .first()
    )
    if journaled is None:
        oldest = ScannedBlock.objects.filter(chain_id=cursor.chain_id, kind=cursor.kind).order_by("number").first()
        return oldest is None or head < oldest.number  # beyond SCAN_REORG_DEPTH: not a credible reorg
    return client.get_block_header(head).hash == journaled.lower()


def _reorg_rollback(
    client: ChainClient, processor: BlockProcessor, report: ScanReport, *, cursor: ScanCursor, current: str
) -> ScanCursor:
    chain_id, kind = cursor.chain_id, cursor.kind
    ancestor, exhausted = _find_common_ancestor(client, chain_id=chain_id, kind=kind, below=cursor.block_number)
    orphaned_from = ancestor.number + 1
    report.reorg = ReorgReport(
        cursor_block=cursor.block_number,
        common_ancestor=ancestor.number,
        orphaned_from=orphaned_from,
        depth=cursor.block_number - ancestor.number,
        journal_exhausted=exhausted,
    )
    if exhausted:
        logger.error(
            "chain %s/%s: reorg deeper than the journal (SCAN_REORG_DEPTH); rolling back to block %d unverified",
            chain_id,
            kind,
            ancestor.number,
        )
    else:
        logger.warning(
            "chain %s/%s: reorg at block %d (was %s, now %s); common ancestor %d, rolling back %d blocks",
            chain_id,
            kind,
            cursor.block_number,
            cursor.block_hash,
            current,
            ancestor.number,
            report.reorg.depth,
        )
    fetched = processor.rollback_fetch(chain_id, orphaned_from)
    with transaction.atomic():
        processor.rollback(chain_id, orphaned_from, fetched)
        ScannedBlock.objects.filter(chain_id=chain_id, kind=kind, number__gte=orphaned_from).delete()
        updated = ScanCursor.objects.filter(
            pk=cursor.pk, block_number=cursor.block_number, block_hash=cursor.block_hash
        ).update(block_number=ancestor.number, block_hash=ancestor.hash)
        if updated != 1:
            raise CursorMoved(f"chain {chain_id}/{kind}: the cursor moved under this run")
    cursor.block_number, cursor.block_hash = ancestor.number, ancestor.hash
    return cursor


def _commit(
    config: ChainConfig,
    client: ChainClient,
    processor: BlockProcessor,
    report: ScanReport,
    *,
    cursor: ScanCursor | None,
    headers: list[BlockHeader],
    logs: list[LogRecord],
    head: int,
) -> None:
    chain_id, kind = config.chain_id, processor.kind
    batch = BlockBatch(chain=config, client=client, headers=headers, logs=logs, live=True)

    def advance() -> None:
        _journal_write(chain_id=chain_id, kind=kind, headers=headers)
        _cursor_advance(chain_id=chain_id, kind=kind, previous=cursor, header=headers[-1], head=head)

    report.stored = batch_process(processor, batch, advance=advance)
    report.from_block, report.to_block = headers[0].number, headers[-1].number
    report.blocks, report.logs = len(headers), len(logs)
    metrics.scan_committed(chain_id, kind, headers[-1].timestamp)
    lag = head - headers[-1].number
    log = logger.warning if lag > 2 * int(settings.SCAN_MAX_BLOCKS_PER_RUN) else logger.info
    log(
        "chain %s/%s: blocks %d-%d, %d logs, head %d, lag %d",
        chain_id,
        kind,
        headers[0].number,
        headers[-1].number,
        len(logs),
        head,
        lag,
    )


def scan_range(
    chain_id: int,
    processor: BlockProcessor,
    *,
    from_block: int,
    to_block: int,
    chunk_blocks: int | None = None,
    config: ChainConfig | None = None,
    client: ChainClient | None = None,
) -> ScanReport:
    """Backfill: process [from_block, to_block] without moving the live cursor or journal.

    Each chunk commits on its own; processors' writes are idempotent (unique
    constraints), so re-running a range or overlapping the live scanner is safe.
    """
    if to_block < from_block:
        raise ValueError(f"empty range {from_block}-{to_block}")
    config = config or chain_config_get(chain_id)
    client = client or chain_client(config)
    _ensure_chain_row(config)
    chunk = chunk_blocks or int(settings.SCAN_MAX_BLOCKS_PER_RUN)
    report = ScanReport(chain_id=chain_id, kind=processor.kind, from_block=from_block)
    requests_before = client.request_count
    for start in range(from_block, to_block + 1, chunk):
        end = min(start + chunk - 1, to_block)
        for attempt in range(3):
            try:
                headers, logs = _fetch_batch(client, processor, numbers=list(range(start, end + 1)), parent_hash=None)
                break
            except ReorgDuringFetch:
                if attempt == 2:
                    raise
        batch = BlockBatch(chain=config, client=client, headers=headers, logs=logs, live=False)
        report.stored += batch_process(processor, batch)
        report.to_block = end
        report.blocks += len(headers)
        report.logs += len(logs)
    report.rpc_requests = client.request_count - requests_before
    return report
