"""Broadcast API for the scanners: ``broadcast_opportunity(data)`` / ``broadcast_transaction(data)``.

``data`` is the spec's ``data`` object (``opportunity_data`` / ``transaction_data``).
The notification text is encoded once here; the channel layer carries it once to
each web process (group ``opportunities.<chain_id>`` / ``transactions.<chain_id>``).

A broadcast never raises into the caller and never blocks it. The call encodes
the event and hands it to this process's publisher thread, which owns one event
loop and one channel-layer instance (so its Redis connections are reused; an
``async_to_sync(group_send)`` per call would build a thread, a loop and a
connection each time, 7-20 ms). The publisher thread numbers each event in Redis
(``seq`` and ``epoch`` per group, see ``streaming.history``) and keeps it in the
group's bounded history before sending it, so clients can resume. If Redis is down or slow,
the publisher logs, counts (the ``arbmonitor_broadcasts_total`` metric) and, past
``MAX_PENDING`` waiting events, drops
the newest; the detector carries on either way.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

import redis.asyncio as aioredis
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from arbmonitor import metrics
from arbmonitor.timeutil import utc_now_isoformat
from streaming import history
from streaming.events import group_name, notification_event
from streaming.protocol import OPPORTUNITIES, TRANSACTIONS
from streaming.retractions import RETRACTION_EVENT_TYPE

logger = logging.getLogger(__name__)

MAX_PENDING = 10_000
SEND_TIMEOUT_SECONDS = 5.0
_LOG_EVERY_SECONDS = 10.0


class _Publisher:
    """A daemon thread with its own event loop that publishes events in call order."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.redis_url = settings.REDIS_URL  # a publisher serves one Redis (see _get_publisher)
        # Gap detection per publisher (streaming.fanout._check_sequence): its own count per group,
        # taken at submit time, so an event that never reached Redis still leaves a gap.
        self.publisher_id = f"{socket.gethostname()}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self._own_seq: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self.stats: Counter[str] = Counter()
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._last_log = 0.0
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="streaming-publisher", daemon=True)
        self._thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._queue = asyncio.Queue()
        ready.set()
        self._loop.run_until_complete(self._publish_forever())

    async def _publish_forever(self) -> None:
        assert self._queue is not None
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        # One retry on a fresh connection: after a Redis restart the pooled one is dead and the
        # first command would fail on it. (A numbering whose reply was lost could then run twice:
        # the notification is kept under two seqs, at least once, never lost.)
        redis = aioredis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=SEND_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        while True:
            group, event = await self._queue.get()
            try:
                await asyncio.wait_for(self._send(layer, redis, group, event), SEND_TIMEOUT_SECONDS)
                self.stats["published"] += 1
                metrics.broadcast_outcome("published")
            except Exception as exc:
                self.stats["failed"] += 1
                metrics.broadcast_outcome("failed")
                self._log(f"broadcast to {group} failed ({type(exc).__name__}: {exc}); the event is lost")
            finally:
                with self._lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()

    @staticmethod
    async def _send(layer: Any, redis: aioredis.Redis, group: str, event: dict[str, Any]) -> None:
        # Numbered and kept in the group's history first (streaming.history), then sent
        # live: every notification a client receives is one a resume can find again.
        # A reorg's ``retracted`` notice (streaming.retractions) is numbered in the same sequence.
        retracted = event.get("type") == RETRACTION_EVENT_TYPE
        event["seq"], event["epoch"], event["text"] = await history.append(
            redis,
            group,
            event["text"],
            None if retracted else event["profit"],
            None if retracted else event["swap_count"],
            kind=history.RETRACTED if retracted else "",
        )
        try:
            await layer.group_send(group, event)
        except RedisConnectionError:
            # The channel layer's pooled connection died with a Redis restart (its first command
            # fails on it): once more on fresh connections. Should the first attempt have
            # reached Redis after all, the fan-out drops the second copy (its publisher_seq).
            await layer.close_pools()
            await layer.group_send(group, event)

    def _log(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_SECONDS:
            self._last_log = now
            logger.error("%s (publisher stats: %s)", text, dict(self.stats))

    def submit(self, group: str, event: dict[str, Any]) -> None:
        with self._lock:
            if self._pending >= MAX_PENDING:
                self.stats["dropped"] += 1
                metrics.broadcast_outcome("dropped")
                self._log(f"{self._pending} broadcasts waiting for Redis; dropping one for {group}")
                return
            self._pending += 1
            self._idle.clear()
            event["publisher"] = self.publisher_id
            event["publisher_seq"] = next(self._own_seq[group])
            # Queued under the lock: the queue's order is the publisher_seq order, which the
            # fan-out relies on (a publisher_seq at or below the last one seen is a second copy).
            assert self._queue is not None
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (group, event))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every submitted event was published (or failed); False on timeout."""
        return self._idle.wait(timeout)


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def _get_publisher() -> _Publisher:
    global _publisher
    publisher = _publisher
    # A new one in a new process after fork (Celery prefork), or when REDIS_URL was changed (tests that
    # run a private Redis): the old one keeps sending what it queued to its own Redis.
    if publisher is None or publisher.pid != os.getpid() or publisher.redis_url != settings.REDIS_URL:
        with _publisher_lock:
            if _publisher is None or _publisher.pid != os.getpid() or _publisher.redis_url != settings.REDIS_URL:
                _publisher = _Publisher()
            publisher = _publisher
    return publisher


def _broadcast(channel: str, data: dict[str, Any]) -> None:
    try:
        event = notification_event(channel, data, timestamp=utc_now_isoformat())
        _get_publisher().submit(group_name(channel, event["chain_id"]), event)
    except Exception:
        logger.exception("broadcast of a %s notification failed; the scan goes on", channel)


def publish_event(group: str, event: dict[str, Any]) -> None:
    """Publish a prepared channel-layer event (e.g. a ``streaming.retractions`` notice) in order with the
    notifications of its group. Never blocks; raises only if the event cannot even be queued."""
    _get_publisher().submit(group, event)


def broadcast_opportunity(data: dict[str, Any]) -> None:
    """Publish one opportunity (the spec's ``data`` object) to every subscribed client. Never raises."""
    _broadcast(OPPORTUNITIES, data)


def broadcast_transaction(data: dict[str, Any]) -> None:
    """Publish one arbitrage transaction (the spec's ``data`` object). Never raises."""
    _broadcast(TRANSACTIONS, data)


def broadcast_flush(timeout: float = 5.0) -> bool:
    """Wait until this process's broadcasts have reached Redis (scripts and tests call it before exiting)."""
    return _publisher is None or _publisher.pid != os.getpid() or _publisher.flush(timeout)


atexit.register(broadcast_flush, 2.0)
