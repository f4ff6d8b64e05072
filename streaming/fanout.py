"""Per-process fan-out: the one channel-layer member of a web process.

Every web process runs one :class:`StreamHub` (per event loop). It joins the
groups ``opportunities.<chain>`` and ``transactions.<chain>`` with a single
channel, so each event crosses Redis once per process, not once per client. For
each event it hands the text the publisher encoded, as one shared ASGI message,
to the outbox of every local connection with a matching subscription. Consumers
are not channel-layer members at all: Channels' per-consumer dispatch (and its
``aclose_old_connections`` thread hop per message) would cost ~20× a plain send.

The hub also holds the connection leases (the limit shared by all processes)
and renews them. It starts lazily on the first connection, so it needs no ASGI
lifespan support and runs the same under uvicorn and daphne.

When Redis goes away (the receive fails) the hub tells every subscribed client at
once, retries every fraction of a second, and as soon as Redis answers it rejoins
its groups and re-takes its connections' leases (a restarted Redis is empty), then
tells the clients the stream is back. Events published meanwhile are lost to the
live stream (a client gets them back by resuming with ``since``); the per-group
sequence numbers (``seq``, ``epoch``, assigned in Redis at publish time, see
``streaming.history``) tell the hub how many, and it says so with the next event
that arrives (see ``_check_sequence``: each publisher process also numbers its own events
per group, ``publisher_seq``, so an event that never reached Redis is counted right).

Events numbered and kept by the publisher but lost between Redis and this process (the
channel layer drops what a busy process did not read in time: over ``capacity``, or older
than ``expiry``) are not lost to clients: the next event of the group shows the gap in its
``seq`` and the hub reads the missing ones back from the history and dispatches them first,
in order (``_fill_gap``); the maintenance round finds a gap no later event shows
(``catch_up``). Their live copies, should they still come, are dropped as second copies. Only
what the history no longer holds is told to clients as missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.conf import settings

from arbmonitor import metrics
from streaming import history, shutdown
from streaming.chains import configured_chain_ids
from streaming.coalesce import Coalescer
from streaming.connection import Seam, StreamConnection
from streaming.errors import ServiceUnavailableError, redis_unavailable
from streaming.events import EVENT_TYPE, group_name
from streaming.gate import CLOSE_INVALID_KEY
from streaming.leases import ConnectionLeases
from streaming.protocol import CHANNELS, Subscribe, error_text
from streaming.retractions import RETRACTION_EVENT_TYPE, retraction_recipients
from streaming.selectors import api_keys_active

logger = logging.getLogger(__name__)

__all__ = ["ServiceUnavailableError", "StreamHub", "close_hub", "get_hub"]

_SEQUENCES_TRACKED = 4096  # (publisher, group) pairs remembered for gap detection
_EPOCHS_REMEMBERED = 4  # epochs per group remembered for reset notices
CLOSE_GOING_AWAY = 1001
SHUTDOWN_REASON = "Server shutting down"
SHUTDOWN_NOTICE = (
    "Server shutting down (a restart or deploy): this connection closes with code 1001 after what was "
    "already queued for it. Reconnect with backoff and resume with since; nothing published meanwhile is lost "
    "within the history"
)

KEY_REVOKED_REASON = "API key revoked"
KEY_REVOKED = (
    "API key revoked: the key this connection was opened with was deactivated or deleted; this connection "
    "closes with code 4001. Do not reconnect with this key"
)


def history_reset_notice(channel: str, chain_id: int, epoch: str) -> str:
    return (
        f"The {channel} history of chain {chain_id} was reset (new epoch {epoch}): sequence numbers start "
        "again at 1 and positions from before cannot be resumed; re-read what you may have missed from the API"
    )


_RETRY_FIRST, _RETRY_MAX = 0.05, 0.5  # seconds between attempts to reach Redis again
_REDIS_CONNECTIONS, _REDIS_POOL_WAIT_SECONDS = 20, 10.0


class StreamHub:
    def __init__(self) -> None:
        # Its own layer instance: its receive loop is bound to this event loop.
        self._layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        # A blocking pool: a burst of handshakes or disconnects waits for a free
        # connection; redis-py's default pool fails past 100 ("Too many connections").
        self._redis = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                settings.REDIS_URL, max_connections=_REDIS_CONNECTIONS, timeout=_REDIS_POOL_WAIT_SECONDS
            )
        )
        self.leases = ConnectionLeases(
            self._redis,
            key=settings.WS_LEASE_KEY,
            limit=settings.WS_MAX_CONNECTIONS,
            lease_seconds=settings.WS_LEASE_SECONDS,
        )
        # Resumes asked at the same moment (a burst of reconnections) read the history in one call.
        self._history_reads: Coalescer[history.Read, history.Recovery] = Coalescer(
            functools.partial(history.read_many, self._redis)
        )
        self.connections: dict[str, StreamConnection] = {}
        self._subscribers: dict[str, dict[StreamConnection, None]] = {channel: {} for channel in CHANNELS}
        self._joined: set[int] = set()
        self._channel = ""
        self._starting: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # (publisher, group) -> (last publisher_seq seen, outage count when it was seen)
        self._last_seq: OrderedDict[tuple[str, str], tuple[int, int]] = OrderedDict()
        self._outages = 0
        # group -> the epochs of its history seen here (a new one means the history was reset)
        self._epochs: dict[str, list[str]] = {}
        # group -> (epoch, highest seq dispatched here): a live event past it shows notifications lost
        # on the way (the channel layer over capacity, or expired in it), which are read back from the
        # history and dispatched first (see _fill_gap); an event at or below it is a second copy.
        self._dispatched: dict[str, tuple[str, int, int]] = {}  # (epoch, seq, outage count then)
        self._to_release: set[str] = set()
        self._releasing: asyncio.Future[None] | None = None
        self.stats: Counter[str] = Counter()
        self.draining = False
        self._drained = asyncio.Event()  # set once draining and no connection is left

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Join the groups and start the receive loop, once; retried after a failure."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        starting = self._starting
        try:
            await asyncio.shield(starting)
        except Exception:
            if self._starting is starting:
                self._starting = None
            raise

    async def _start(self) -> None:
        self._channel = await self._layer.new_channel("streaming.fanout")
        chains = await configured_chain_ids()  # ServiceUnavailableError(database) on its own
        try:
            await self.join(chains)
        except Exception as exc:
            unavailable = redis_unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from exc
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="streaming-fanout"),
            asyncio.create_task(self._maintenance_loop(), name="streaming-leases"),
        ]
        shutdown.install(self.drain)

    async def drain(self) -> None:
        """The process is stopping: each client gets what is queued for it, the notice, then close 1001.

        New connections get the notice and 1001 at once. Returns when every connection
        has closed, or after ``WS_SHUTDOWN_GRACE_SECONDS`` (a client that does not finish
        the closing handshake is left to the server's own shutdown).
        """
        self.draining = True
        connections = list(self.connections.values())
        for connection in connections:
            if connection.accepted:  # the others are told once accepted (StreamConsumer.connect)
                self.close_for_shutdown(connection)
        logger.warning("shutting down: %d WebSocket connection(s) told and closing (1001)", len(connections))
        self._check_drained()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), settings.WS_SHUTDOWN_GRACE_SECONDS)
        if self.connections:
            logger.warning("%d WebSocket connection(s) still open after the grace period", len(self.connections))
        elif self._releasing is not None:  # the closed connections' slots, back before the process goes
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._releasing), 1.0)

    async def close(self) -> None:
        """Leave the groups, give the leases back, close the Redis connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            for chain_id in self._joined:
                for channel in CHANNELS:
                    await self._layer.group_discard(group_name(channel, chain_id), self._channel)
            await self.leases.release(*self.connections, *self._to_release)
            if self._releasing is not None:
                await self._releasing
        self.connections.clear()
        with contextlib.suppress(Exception):
            await self._layer.close_pools()
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    async def join(self, chain_ids: Iterable[int], *, refresh: bool = False) -> None:
        """Be a member of both groups of every chain in ``chain_ids`` (``refresh``: re-add known ones too)."""
        for chain_id in chain_ids:
            if chain_id in self._joined and not refresh:
                continue
            for channel in CHANNELS:
                await self._layer.group_add(group_name(channel, chain_id), self._channel)
            self._joined.add(chain_id)

    # --- connections -------------------------------------------------------------------

    async def admit(self, connection: StreamConnection) -> bool:
        """Take a lease for ``connection``; False when the server is at capacity.

        Raises :class:`ServiceUnavailableError` naming Redis or the database. If the
        caller is cancelled while Redis may already have granted the lease, the
        lease is given back.
        """
        await self.start()
        connection_id = connection.connection_id
        try:
            admitted = await self.leases.acquire(connection_id)
        except BaseException as exc:
            self._release_later(connection_id)
            unavailable = redis_unavailable(exc) if isinstance(exc, Exception) else None
            if unavailable is not None:
                raise unavailable from exc
            raise
        if admitted:
            self.connections[connection_id] = connection
            metrics.ws_connection_opened()
        return admitted

    def close_for_shutdown(self, connection: StreamConnection) -> None:
        """After what is queued: the shutdown notice and close 1001; nothing live after the notice."""
        self.forget(connection)
        connection.outbox.deliver({"type": "websocket.send", "text": error_text(SHUTDOWN_NOTICE)})
        connection.outbox.close(CLOSE_GOING_AWAY, SHUTDOWN_REASON)

    async def close_revoked(self) -> int:
        """Close the connections whose API key was deactivated or deleted since they came in (4001).

        Checked on every maintenance round (a third of ``WS_LEASE_SECONDS``): one query for the
        keys of this process's open connections. Returns how many were closed.
        """
        keyed = [c for c in self.connections.values() if c.api_key_id is not None and not c.outbox.closed]
        if not keyed:
            return 0
        active = await database_sync_to_async(api_keys_active)(api_key_ids={c.api_key_id for c in keyed})
        revoked = [c for c in keyed if c.api_key_id not in active]
        for connection in revoked:
            self.forget(connection)
            connection.outbox.deliver({"type": "websocket.send", "text": error_text(KEY_REVOKED)})
            connection.outbox.close(CLOSE_INVALID_KEY, KEY_REVOKED_REASON)
        if revoked:
            self.stats["revoked"] += len(revoked)
            logger.info("closed %d connection(s) whose API key was revoked", len(revoked))
        return len(revoked)

    def _check_drained(self) -> None:
        if self.draining and not self.connections:
            self._drained.set()

    def _release_later(self, connection_id: str) -> asyncio.Future[None]:
        """Queue a lease for release; one task gives back a burst of them in one command."""
        self._to_release.add(connection_id)
        if self._releasing is None:
            self._releasing = asyncio.ensure_future(self._release_queued())
        return self._releasing

    async def _release_queued(self) -> None:
        try:
            while self._to_release:
                ids = list(self._to_release)
                self._to_release.clear()
                try:
                    await self.leases.release(*ids)
                except Exception as exc:  # not renewed any more: they expire within WS_LEASE_SECONDS
                    logger.warning("could not release %d connection lease(s): %s", len(ids), exc)
        finally:
            self._releasing = None

    def forget(self, connection: StreamConnection) -> None:
        """Stop delivering to ``connection``."""
        for subscribers in self._subscribers.values():
            subscribers.pop(connection, None)

    def discard(self, connection: StreamConnection) -> None:
        """``connection`` is finished (too slow, stuck, failed): no deliveries, and its slot back now."""
        self.forget(connection)
        if self.connections.pop(connection.connection_id, None) is not None:
            metrics.ws_connection_closed()
            self._release_later(connection.connection_id)
            self._check_drained()

    async def remove(self, connection: StreamConnection) -> None:
        """The connection closed: forget it and give its lease back (safe to call twice)."""
        self.forget(connection)
        # Out of ``connections`` first, with no await before: from here the lease is
        # never renewed again, so it cannot outlive WS_LEASE_SECONDS even if the
        # release below fails or is cancelled.
        if self.connections.pop(connection.connection_id, None) is not None:
            metrics.ws_connection_closed()
            released = self._release_later(connection.connection_id)
            self._check_drained()
            await asyncio.shield(released)

    def subscriptions_changed(self, connection: StreamConnection, channel: str) -> None:
        if connection.subscriptions[channel] and not connection.outbox.closed:
            self._subscribers[channel][connection] = None
        else:
            self._subscribers[channel].pop(connection, None)

    async def recover(self, connection: StreamConnection, request: Subscribe, reply: Callable[..., str]) -> None:
        """Subscribe with ``since`` / ``replay``: the reply, the missed notifications, then live ones.

        Live notifications of the group are held back from before the history is read
        until the replay is queued, so none is missed between the two; those the replay
        already holds (``seq`` up to the group's position when it was read) are dropped,
        so none comes twice. Everything is queued in one synchronous step at the end:
        nothing can come between the reply, the replay and the held live notifications.
        """
        assert request.filters.chain_id is not None
        chain_id, channel, filters = request.filters.chain_id, request.channel, request.filters
        group = group_name(channel, chain_id)
        added = filters not in connection.subscriptions[channel]
        connection.subscribe(channel, filters)
        if connection.resumes is None:
            connection.resumes = {}
        seam = connection.resumes[group] = Seam()
        self.subscriptions_changed(connection, channel)
        try:
            if request.since is not None:
                read = history.Read(group, since=(request.since.seq, request.since.epoch))
            else:
                read = history.Read(group, last=min(request.replay or 0, settings.WS_HISTORY_SIZE))
            found = await self._history_reads.submit(read)
        except BaseException:
            if added:
                connection.discard_subscription(channel, filters)
                self.subscriptions_changed(connection, channel)
            waiting, seam.waiting = seam.waiting or [], None
            for _epoch, _seq, message in waiting:
                connection.outbox.deliver(message)
            raise
        outbox = connection.outbox
        outbox.deliver({"type": "websocket.send", "text": reply(found)})
        for entry in found.entries:
            # A retraction is of this group's chain: replayed to every subscription, as live (streaming.retractions).
            if entry.retracted or filters.matches(chain_id, entry.profit, entry.swap_count):
                outbox.deliver({"type": "websocket.send", "text": entry.text})
        self.stats["replayed"] += len(found.entries)
        # Everything up to the position read is in the history (whether replayed or not):
        # from here on, live copies of those are dropped, later ones delivered.
        waiting, seam.waiting = seam.waiting or [], None
        seam.epoch, seam.seq = found.epoch, found.seq
        for epoch, seq, message in waiting:
            if not seam.covers(epoch, seq):
                outbox.deliver(message)

    # --- events ----------------------------------------------------------------------------

    def dispatch(self, event: dict[str, Any]) -> int:
        """Hand one event to every matching local connection; returns how many got it.

        A notification goes to the connections whose filters match it; a reorg's ``retracted``
        notice (``streaming.retractions``) to every connection with a subscription to its channel
        that can match its chain, whatever the profit and swap filters. Both carry the group's
        ``seq``/``epoch`` and take the same path through gap detection and resume seams.
        """
        kind = event.get("type")
        if kind != EVENT_TYPE and kind != RETRACTION_EVENT_TYPE:
            return 0
        channel = event["channel"]
        subscribers = self._subscribers.get(channel)
        if subscribers is None:
            return 0
        tracked = self._track_dispatched(event)
        if tracked is None:  # a second copy of a notification dispatched already (e.g. read back from the history)
            self.stats["duplicates"] += 1
            return 0
        numbered, missed, during_outage = tracked
        # Numbered events: the group's numbers tell what is missing for good (not even in the history),
        # so a publisher's gap that was read back is no news; unnumbered ones: the publisher's count.
        if not self._check_sequence(event, subscribers, tell=not numbered):
            return 0
        if missed:
            self._tell_missed(event["channel"], subscribers, missed, during_outage)
        self._check_epoch(event, subscribers)
        if not subscribers:
            return 0
        message = {"type": "websocket.send", "text": event["text"]}
        chain_id = event["chain_id"]
        if kind == RETRACTION_EVENT_TYPE:
            recipients = retraction_recipients(list(subscribers), event)
        else:
            profit, swap_count = event["profit"], event["swap_count"]
            recipients = [c for c in list(subscribers) if c.wants(channel, chain_id, profit, swap_count)]
        delivered = 0
        for connection in recipients:
            if connection.resumes is not None:
                seam = connection.resumes.get(group_name(channel, chain_id))
                if seam is not None:
                    epoch, seq = event.get("epoch", ""), event.get("seq", 0)
                    if seam.waiting is not None:  # its history is being read: sent after it (see recover)
                        seam.waiting.append((epoch, seq, message))
                        delivered += 1
                        continue
                    if seam.covers(epoch, seq):  # the replay already sent it
                        continue
            if connection.outbox.deliver(message):
                delivered += 1
        if kind == RETRACTION_EVENT_TYPE:
            self.stats["retractions"] += 1
            return delivered
        self.stats["events"] += 1
        self.stats["deliveries"] += delivered
        metrics.ws_event_dispatched(event, delivered)
        return delivered

    def _track_dispatched(self, event: dict[str, Any]) -> tuple[bool, int, bool] | None:
        """Note the event's group position: None for a second copy, else ``(counted, missed, during an
        outage)``: ``counted`` when the group's numbers can tell what is missing (an earlier event of the
        same epoch was seen here), ``missed`` how many of its group before it never came here."""
        seq, epoch = event.get("seq"), event.get("epoch")
        if seq is None or not epoch:
            return False, 0, False
        group = group_name(event["channel"], event["chain_id"])
        known = self._dispatched.get(group)
        self._dispatched[group] = (epoch, seq, self._outages)
        if known is None or known[0] != epoch:  # nothing to compare with: the publisher's count tells
            return False, 0, False
        if seq <= known[1]:
            self._dispatched[group] = known
            return None
        return True, seq - known[1] - 1, known[2] != self._outages

    async def _fill_gap(self, event: dict[str, Any]) -> None:
        """Before a live event: dispatch the notifications of its group numbered since the last one
        dispatched here, read back from the history (they were lost on the way to this process)."""
        seq, epoch = event.get("seq"), event.get("epoch")
        if seq is None or not epoch or event.get("type") not in (EVENT_TYPE, RETRACTION_EVENT_TYPE):
            return
        group = group_name(event["channel"], event["chain_id"])
        known = self._dispatched.get(group)
        if known is not None and known[0] == epoch and seq > known[1] + 1:
            await self._read_back(group, epoch, known[1] + 1, seq - 1)

    async def _read_back(self, group: str, epoch: str, first: int, last: int) -> None:
        entries = await history.read_range(self._redis, group, first, last)
        channel, chain_id = group.rsplit(".", 1)
        for entry in entries:
            self.stats["read_back"] += 1
            self.dispatch(
                {
                    "type": RETRACTION_EVENT_TYPE if entry.retracted else EVENT_TYPE,
                    "channel": channel,
                    "chain_id": int(chain_id),
                    "text": entry.text,
                    "profit": entry.profit,
                    "swap_count": entry.swap_count,
                    "seq": entry.seq,
                    "epoch": epoch,
                }
            )
        if entries:
            logger.warning("%d %s notification(s) lost on the way to this process were read back from the history",
                           len(entries), group)  # fmt: skip

    async def catch_up(self) -> None:
        """Dispatch what was published to the groups seen here but never arrived (no later event shows
        the gap): each group's latest number against the last dispatched, on every maintenance round."""
        groups = [group for group in self._dispatched if self._subscribers.get(group.rsplit(".", 1)[0])]
        if not groups:
            return
        for group, (seq, epoch) in (await history.positions(self._redis, groups)).items():
            known = self._dispatched.get(group)
            if known is not None and known[0] == epoch and seq > known[1]:
                await self._read_back(group, epoch, known[1] + 1, seq)

    def _check_sequence(
        self, event: dict[str, Any], subscribers: dict[StreamConnection, None], *, tell: bool = True
    ) -> bool:
        """Tell subscribers when events were lost on the way (never drop silently), and why.

        False for a second copy of an event (a publisher's retry after a connection error
        whose first attempt had reached Redis): one publisher's events arrive in order, so
        a ``publisher_seq`` at or below the last one seen was delivered already.
        """
        publisher, seq = event.get("publisher"), event.get("publisher_seq")
        if publisher is None or seq is None:
            return True
        key = (publisher, group_name(event["channel"], event["chain_id"]))
        last = self._last_seq.pop(key, None)
        self._last_seq[key] = (seq if last is None else max(seq, last[0]), self._outages)
        if len(self._last_seq) > _SEQUENCES_TRACKED:
            self._last_seq.popitem(last=False)
        if last is not None and seq <= last[0]:
            self.stats["duplicates"] += 1
            return False
        if last is None or seq == last[0] + 1:
            return True
        if tell:  # (numbered events are counted by their group's numbers instead)
            self._tell_missed(event["channel"], subscribers, seq - last[0] - 1, last[1] != self._outages)
        return True

    def _tell_missed(
        self, channel: str, subscribers: dict[StreamConnection, None], lost: int, during_outage: bool
    ) -> None:
        self.stats["lost"] += lost
        metrics.ws_events_lost(lost)
        logger.warning("%d %s notification(s) lost before this process%s", lost, channel,
                       " (Redis outage)" if during_outage else "")  # fmt: skip
        why = (
            "while this server was cut off from Redis"
            if during_outage
            else "on the way (the server's channel layer was over capacity)"
        )
        message = {"type": "websocket.send", "text": error_text(f"{lost} {channel} notification(s) were missed {why}")}
        for connection in list(subscribers):
            connection.outbox.deliver(message)

    def _check_epoch(self, event: dict[str, Any], subscribers: dict[StreamConnection, None]) -> None:
        """Tell the chain's subscribers when its history was reset (Redis lost it): a new epoch.

        Positions (``since``) from before cannot be resumed any more; the numbering starts
        again at 1. The first epoch a process sees is not news, nor one it saw lately
        (two publishers' events can straddle a reset).
        """
        epoch = event.get("epoch")
        if epoch is None:
            return
        channel, chain_id = event["channel"], event["chain_id"]
        group = group_name(channel, chain_id)
        seen = self._epochs.get(group)
        if seen is None:
            self._epochs[group] = [epoch]
            return
        if epoch in seen:
            return
        seen.append(epoch)
        del seen[:-_EPOCHS_REMEMBERED]
        self.stats["epochs"] += 1
        logger.warning("the history of %s was reset (new epoch %s)", group, epoch)
        message = {"type": "websocket.send", "text": error_text(history_reset_notice(channel, chain_id, epoch))}
        for connection in list(subscribers):
            if any(f.chain_id in (None, chain_id) for f in connection.subscriptions[channel]):
                connection.outbox.deliver(message)

    def _tell_subscribers(self, text: str) -> None:
        message = {"type": "websocket.send", "text": error_text(text)}
        for connection in list(self.connections.values()):
            if connection.subscription_count:
                connection.outbox.deliver(message)

    async def _receive_loop(self) -> None:
        while True:
            try:
                event = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._outage(exc)
                continue
            try:
                await self._fill_gap(event)
                self.dispatch(event)
            except Exception:
                logger.exception("fan-out of one event failed")
            # Let the server write what was just queued (daphne/Twisted writes only
            # when the loop gets control) before taking the next event.
            await asyncio.sleep(0)

    async def _outage(self, exc: Exception) -> None:
        """Redis is gone: tell the clients, then rejoin and re-lease as soon as it answers."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._outages += 1
        self.stats["outages"] += 1
        logger.error("channel layer receive failed (%s: %s); reconnecting to Redis", type(exc).__name__, exc)
        self._tell_subscribers(
            "Live notifications interrupted: the server lost its connection to Redis. "
            "Notifications published until it is back will be missed; you will be told when it is back "
            "and, with the next notification of each kind, how many were missed."
        )
        delay = _RETRY_FIRST
        while True:
            await asyncio.sleep(delay)
            try:
                # A restarted Redis is empty: group membership and leases are gone.
                await self.join(await configured_chain_ids(), refresh=True)
                await self.leases.renew(list(self.connections))
                break
            except asyncio.CancelledError:
                raise
            except Exception as retry_exc:
                self.stats["reconnect_attempts"] += 1
                logger.debug("Redis still unreachable: %s", retry_exc)
                delay = min(delay * 2, _RETRY_MAX)
        lasted = loop.time() - started
        logger.warning("Redis reachable again after %.1f s; groups rejoined", lasted)
        self._tell_subscribers(
            f"Live notifications resumed after {lasted:.1f} s without Redis. "
            "Notifications published meanwhile were missed."
        )

    async def _maintenance_loop(self) -> None:
        interval = max(settings.WS_LEASE_SECONDS / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.leases.renew(list(self.connections))
                await self.join(await configured_chain_ids(), refresh=True)
                await self.catch_up()
                await self.close_revoked()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("renewing connection leases / group membership failed: %s", exc)


_hubs: dict[asyncio.AbstractEventLoop, StreamHub] = {}


def get_hub() -> StreamHub:
    """This event loop's hub (one per web process; one per test in the test suite)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for old in [old for old in _hubs if old.is_closed()]:
            del _hubs[old]
        hub = _hubs[loop] = StreamHub()
    return hub


async def close_hub() -> None:
    """Close this event loop's hub, if it has one."""
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is not None:
        await hub.close()
