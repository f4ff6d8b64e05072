"""The head watcher: start both scans of a chain the moment a new block is seen.

Celery beat fires the scans every block interval on its own phase, unrelated to
when blocks arrive, which costs up to a block interval of latency. The watcher
(``python manage.py watch_heads``) follows every enabled chain's head instead:

- over WebSocket with ``eth_subscribe("newHeads")`` when the chain has a
  ``ws_urls`` entry (one asyncio task per chain);
- otherwise (or when the endpoint refuses subscriptions, or while a dropped
  WebSocket is reconnecting with backoff) by polling ``eth_blockNumber`` over
  HTTP every ``min(block_time / 4, 0.25 s)`` (HEADWATCH_POLL_INTERVAL_SECONDS).

Each head with a number above the last one seen triggers one run of each scan
kind (``scan_pools`` and ``scan_transactions``). The scans take the per-chain
lock and catch up on everything new, so a duplicate trigger is harmless; but a
trigger whose task finds the lock held (a beat-fired run still going) exits at
once, and that run may have read the head before the new block. So the watcher
follows up: until each kind's cursor has reached the head it saw, it looks at
the cursor and the lock every HEADWATCH_RECHECK_SECONDS, and re-triggers a
kind whose lock is free while its cursor still lags (with doubling backoff, so
a failing scan is not flooded). Beat stays on as the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from chains.clients import chain_client_new
from chains.config import ChainConfig
from evm.rpc import SubscriptionRefused, new_heads

logger = logging.getLogger(__name__)

SCAN_KINDS: tuple[str, ...] = ("pools", "transactions")

# trigger(chain_id, kind, head): start one scan of that kind (blocking; runs in a thread).
Trigger = Callable[[int, str, int], None]


@dataclass(frozen=True)
class ScanProgress:
    """Where one scan kind of a chain stands: its cursor block (None before the first run) and its lock."""

    cursor: int | None
    locked: bool


# progress(chain_id) -> {kind: ScanProgress}  (blocking; runs in a thread).
Progress = Callable[[int], dict[str, ScanProgress]]


@dataclass(frozen=True)
class HeadWatchOptions:
    """Tunables (HEADWATCH_* settings); ``poll_interval`` 0 means min(block_time / 4, 0.25 s)."""

    poll_interval: float = 0.0
    recheck: float = 0.1
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    rpc_timeout: float = 3.0
    health_file: Path | None = None
    stale_after: float = 60.0

    def poll_interval_for(self, config: ChainConfig) -> float:
        if self.poll_interval > 0:
            return self.poll_interval
        return max(min(config.block_time / 4, 0.25), 0.01)

    @classmethod
    def from_settings(cls) -> HeadWatchOptions:
        from django.conf import settings

        health = str(settings.HEADWATCH_HEALTH_FILE or "")
        return cls(
            poll_interval=float(settings.HEADWATCH_POLL_INTERVAL_SECONDS),
            recheck=float(settings.HEADWATCH_RECHECK_SECONDS),
            reconnect_max=float(settings.HEADWATCH_RECONNECT_MAX_SECONDS),
            health_file=Path(health) if health else None,
            stale_after=float(settings.HEADWATCH_STALE_SECONDS),
        )


# --- the real trigger and progress (Celery, the database, Redis) ------------------------------


def celery_trigger(block_time: Callable[[int], float]) -> Trigger:
    """Enqueue the chain's scan task of ``kind`` by the name its app registered (``scanning.registry``);
    the message expires if no worker takes it soon."""
    from celery import current_app

    from scanning.registry import scan_kind

    def trigger(chain_id: int, kind: str, head: int) -> None:
        # A stale trigger is useless (a newer head or the follow-up re-trigger replaces it).
        current_app.send_task(scan_kind(kind).task_name, (chain_id,), expires=max(4 * block_time(chain_id), 2.0))

    return trigger


def scan_progress(chain_id: int) -> dict[str, ScanProgress]:
    """Each kind's cursor block (database) and whether its scan lock is held (Redis)."""
    from django.db import close_old_connections

    from chains.models import ScanCursor
    from scanning.loop import lock_name, redis_client
    from scanning.registry import scan_kinds

    close_old_connections()  # a long-lived thread: drop a connection the server closed
    kinds = [k.kind for k in scan_kinds()] or list(SCAN_KINDS)
    cursors = dict(ScanCursor.objects.filter(chain_id=chain_id).values_list("kind", "block_number"))
    pipe = redis_client().pipeline(transaction=False)
    for kind in kinds:
        pipe.exists(lock_name(chain_id, kind))
    locked = pipe.execute()
    return {kind: ScanProgress(cursors.get(kind), bool(held)) for kind, held in zip(kinds, locked, strict=True)}


# --- one chain -------------------------------------------------------------------------------


@dataclass
class WatchStats:
    heads: int = 0
    triggers: int = 0
    retriggers: int = 0
    reconnects: int = 0
    enqueue_seconds: list[float] = field(default_factory=list)

    def enqueue_summary(self) -> str:
        values = self.enqueue_seconds[-1000:]
        if not values:
            return "no enqueues"
        ms = sorted(v * 1000 for v in values)
        return f"enqueue p50 {statistics.median(ms):.2f} ms, max {ms[-1]:.2f} ms (n={len(ms)})"


class ChainHeadWatcher:
    """Follows one chain's head and triggers its scans; ``run()`` until ``stop`` is set."""

    def __init__(
        self,
        config: ChainConfig,
        *,
        trigger: Trigger,
        progress: Progress,
        options: HeadWatchOptions,
        executor: ThreadPoolExecutor,
        kinds: Sequence[str] = SCAN_KINDS,
    ) -> None:
        self.config = config
        self.chain_id = config.chain_id
        self.trigger = trigger
        self.progress = progress
        self.options = options
        self.executor = executor
        self.kinds = tuple(kinds)
        self.last_head: int | None = None
        self.last_head_at = time.monotonic()
        self.mode = "starting"  # "ws", "polling" (for good), "polling-while-reconnecting"
        self.stats = WatchStats()
        self._fired_at: dict[str, float] = {}  # kind -> when its last trigger was sent
        self._done_after: deque[float] = deque(maxlen=50)  # trigger -> cursor at the head, recent runs
        self._pending = asyncio.Event()  # a head was triggered and the cursors may not have reached it yet
        self._client: Any = None

    # -- heads -----------------------------------------------------------------------------

    async def on_head(self, number: int) -> bool:
        """A head was seen; trigger both scans when it is new. Returns whether it was new."""
        if self.last_head is not None and number <= self.last_head:
            return False
        first = self.last_head is None
        self.last_head = number
        self.last_head_at = time.monotonic()
        self.stats.heads += 1
        logger.debug("chain %s: head %d (%s)", self.chain_id, number, self.mode)
        if first:
            logger.info("chain %s: first head %d seen (%s)", self.chain_id, number, self.mode)
        await self._fire(self.kinds, number)
        self._pending.set()
        return True

    async def _fire(self, kinds: Sequence[str], head: int) -> None:
        """Enqueue one scan per kind, concurrently (each ``apply_async`` is a blocking broker round trip)."""
        loop = asyncio.get_running_loop()

        async def one(kind: str) -> None:
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self.executor, self.trigger, self.chain_id, kind, head)
            except Exception:
                logger.exception("chain %s: could not trigger the %s scan for head %d", self.chain_id, kind, head)
                return
            self.stats.enqueue_seconds.append(time.perf_counter() - started)
            self._fired_at[kind] = time.monotonic()
            self.stats.triggers += 1

        await asyncio.gather(*(one(kind) for kind in kinds))

    # -- follow-up: a trigger that found the lock held is not lost ------------------------------

    def grace(self) -> float:
        """How long a triggered scan may take to reach the head before it counts as lost.

        Twice the recent median of trigger → cursor-at-head (queueing in a busy worker
        included), at least one recheck and at most 2 s: a task still waiting in the
        queue is not re-triggered (that would only add load), a lost one is within ~2 s.
        """
        typical = statistics.median(self._done_after) if self._done_after else 0.0
        return min(max(2 * typical, self.options.recheck), max(2.0, self.options.recheck))

    async def follow_up(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        attempts = dict.fromkeys(self.kinds, 0)
        next_at = dict.fromkeys(self.kinds, 0.0)
        reached: dict[str, int] = {}
        while not stop.is_set():
            if not await _wait_either(self._pending, stop):
                return
            await _sleep_unless(stop, self.options.recheck)
            self._pending.clear()
            head = self.last_head
            if head is None:
                continue
            try:
                progress = await loop.run_in_executor(self.executor, self.progress, self.chain_id)
            except Exception as exc:
                logger.warning("chain %s: cannot read the scan progress: %s", self.chain_id, exc)
                self._pending.set()
                await _sleep_unless(stop, 1.0)
                continue
            lagging = False
            now = time.monotonic()
            for kind in self.kinds:
                state = progress.get(kind, ScanProgress(None, False))
                if state.cursor is not None and state.cursor >= head:
                    if next_at[kind] == 0.0 and kind in self._fired_at and reached.get(kind) != head:
                        self._done_after.append(now - self._fired_at[kind])
                    reached[kind] = head
                    attempts[kind], next_at[kind] = 0, 0.0
                    continue
                lagging = True
                waited = now - self._fired_at.get(kind, 0.0)
                if state.locked or now < next_at[kind] or waited < self.grace():
                    continue  # a run is going (it releases, then we look again) or we re-triggered recently
                attempts[kind] += 1
                cap = max(self.options.reconnect_max, self.options.recheck)
                next_at[kind] = now + min(self.options.recheck * 2 ** attempts[kind], cap)
                logger.info(
                    "chain %s: %s cursor %s behind head %d with its lock free; re-triggering",
                    self.chain_id,
                    kind,
                    state.cursor,
                    head,
                )
                self.stats.retriggers += 1
                await self._fire([kind], head)
            if lagging:
                self._pending.set()

    # -- transports ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        follow = asyncio.create_task(self.follow_up(stop), name=f"headwatch-follow-{self.chain_id}")
        try:
            if self.config.ws_urls:
                await self._run_ws(stop)
            else:
                self.mode = "polling"
                logger.info(
                    "chain %s: no WebSocket URL; polling eth_blockNumber every %.3fs",
                    self.chain_id,
                    self.options.poll_interval_for(self.config),
                )
                await self._poll(stop, until=None)
        finally:
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow
            if self._client is not None:
                self._client.close()

    async def _run_ws(self, stop: asyncio.Event) -> None:
        failures = 0
        urls = itertools.cycle(self.config.ws_urls)
        while not stop.is_set():
            url = next(urls)
            try:
                await self._watch_ws(url, stop)
                failures = 0  # a clean return means stop was set
            except SubscriptionRefused as exc:
                if not self.config.rpc_urls:
                    raise
                logger.warning(
                    "chain %s: %s refuses eth_subscribe(newHeads) (%s); falling back to HTTP polling every %.3fs",
                    self.chain_id,
                    url,
                    exc,
                    self.options.poll_interval_for(self.config),
                )
                self.mode = "polling"
                await self._poll(stop, until=None)
                return
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException, ValueError, KeyError) as exc:
                failures += 1
                self.stats.reconnects += 1
                delay = min(self.options.reconnect_min * 2 ** (failures - 1), self.options.reconnect_max)
                delay *= random.uniform(0.8, 1.2)
                logger.warning(
                    "chain %s: WebSocket %s failed (%s: %s); reconnecting in %.1fs%s",
                    self.chain_id,
                    url,
                    type(exc).__name__,
                    exc,
                    delay,
                    ", polling HTTP meanwhile" if self.config.rpc_urls else "",
                )
                if self.config.rpc_urls:
                    self.mode = "polling-while-reconnecting"
                    await self._poll(stop, until=time.monotonic() + delay)
                else:
                    await _sleep_unless(stop, delay)

    async def _watch_ws(self, url: str, stop: asyncio.Event) -> None:
        def subscribed() -> None:
            self.mode = "ws"
            logger.info("chain %s: subscribed to newHeads on %s", self.chain_id, url)

        async for head in new_heads(url, stop=stop, on_subscribed=subscribed):
            await self.on_head(head)

    async def _poll(self, stop: asyncio.Event, *, until: float | None) -> None:
        from evm.rpc import RpcError

        if self._client is None:
            self._client = chain_client_new(
                self.config, timeout=self.options.rpc_timeout, max_retries=0, backoff_base=0.0, backoff_max=0.0
            )
        loop = asyncio.get_running_loop()
        interval = self.options.poll_interval_for(self.config)
        failures = 0
        while not stop.is_set() and (until is None or time.monotonic() < until):
            started = time.monotonic()
            try:
                head = await loop.run_in_executor(self.executor, self._client.block_number)
                failures = 0
                await self.on_head(head)
            except RpcError as exc:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    logger.warning("chain %s: eth_blockNumber failed %d time(s): %s", self.chain_id, failures, exc)
            wait = interval - (time.monotonic() - started)
            if until is not None:
                wait = min(wait, until - time.monotonic())
            await _sleep_unless(stop, max(wait, 0.0))


# --- every chain -------------------------------------------------------------------------------


class HeadWatcher:
    """One process, every chain: a ``ChainHeadWatcher`` task per chain, a health file, stats in the log."""

    def __init__(
        self,
        chains: Sequence[ChainConfig],
        *,
        trigger: Trigger | None = None,
        progress: Progress | None = None,
        options: HeadWatchOptions | None = None,
        kinds: Sequence[str] = SCAN_KINDS,
        stats_every: float = 60.0,
    ) -> None:
        if not chains:
            raise ValueError("no chain to watch")
        self.options = options or HeadWatchOptions()
        block_times = {c.chain_id: c.block_time for c in chains}
        self.executor = ThreadPoolExecutor(max_workers=max(4, 2 * len(chains)), thread_name_prefix="headwatch")
        self.trigger = trigger or celery_trigger(lambda chain_id: block_times[chain_id])
        self.progress = progress or scan_progress
        self.stats_every = stats_every
        self.watchers = {
            c.chain_id: ChainHeadWatcher(
                c,
                trigger=self.trigger,
                progress=self.progress,
                options=self.options,
                executor=self.executor,
                kinds=kinds,
            )
            for c in chains
        }
        self.stop = asyncio.Event()

    def request_stop(self) -> None:
        self.stop.set()

    async def run(self) -> None:
        """Watch until ``request_stop()``; a chain whose watcher crashes takes the process down (loudly)."""
        tasks = [asyncio.create_task(w.run(self.stop), name=f"headwatch-{cid}") for cid, w in self.watchers.items()]
        tasks.append(asyncio.create_task(self._housekeeping(), name="headwatch-housekeeping"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            self.stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.executor.shutdown(wait=True, cancel_futures=True)

    async def _housekeeping(self) -> None:
        last_stats = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if self.options.health_file is not None and self.healthy(now):
                with contextlib.suppress(OSError):
                    self.options.health_file.touch()
            if now - last_stats >= self.stats_every:
                last_stats = now
                for w in self.watchers.values():
                    logger.info(
                        "chain %s: %s, head %s, %d heads, %d triggers (%d re-triggers), %d reconnects, %s",
                        w.chain_id,
                        w.mode,
                        w.last_head,
                        w.stats.heads,
                        w.stats.triggers,
                        w.stats.retriggers,
                        w.stats.reconnects,
                        w.stats.enqueue_summary(),
                    )
            await _sleep_unless(self.stop, 1.0)

    def healthy(self, now: float | None = None) -> bool:
        """Every chain saw a new head within HEADWATCH_STALE_SECONDS."""
        now = time.monotonic() if now is None else now
        return all(now - w.last_head_at < self.options.stale_after for w in self.watchers.values())


# --- helpers -------------------------------------------------------------------------------------


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _wait_either(event: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait for ``event`` or ``stop``; True when ``event`` is set and ``stop`` is not."""
    if stop.is_set():
        return False
    if event.is_set():
        return True
    waiters = {asyncio.create_task(event.wait()), asyncio.create_task(stop.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return not stop.is_set()
