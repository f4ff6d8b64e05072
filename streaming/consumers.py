"""The ``/ws/v1/stream`` consumer: one connection's protocol messages, subscriptions and limits.

Thin: validation lives in ``streaming.protocol``, matching in ``streaming.filters``,
delivery in ``streaming.outbox`` and the fan-out in ``streaming.fanout``. Every
message to the client goes through the connection's outbox, so replies and
notifications keep their order and nothing here waits on a slow client.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any, Final

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from arbmonitor import metrics
from arbmonitor.timeutil import utc_now_isoformat
from streaming import protocol, transport
from streaming.chains import configured_chain_ids
from streaming.connection import StreamConnection, new_connection_id
from streaming.errors import redis_unavailable
from streaming.fanout import (
    CLOSE_GOING_AWAY,
    SHUTDOWN_NOTICE,
    SHUTDOWN_REASON,
    ServiceUnavailableError,
    StreamHub,
    get_hub,
)
from streaming.gate import api_key_id, max_subscriptions
from streaming.history import Recovery
from streaming.limits import RateLimiter, RateVerdict
from streaming.outbox import Outbox

logger = logging.getLogger(__name__)

CLOSE_POLICY: Final = 1008  # at capacity; message flood
CLOSE_TOO_BIG: Final = 1009  # a frame over WS_MAX_MESSAGE_BYTES
CLOSE_UNAVAILABLE: Final = 1011  # Redis or the database unreachable at connect
AT_CAPACITY: Final = "Server at capacity"
INTERNAL_ERROR: Final = "Internal server error: the message was not applied"


class StreamConsumer(AsyncWebsocketConsumer):
    """One connection. Its slot (a lease) is given back on every way out, see ``__call__``."""

    # No channel of its own: the process's StreamHub is its only channel-layer member.
    channel_layer_alias = "streaming-hub-only"

    hub: StreamHub | None = None
    connection: StreamConnection | None = None
    _heartbeat: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Whatever ends this connection (a normal disconnect, a peer gone during the
        # handshake so accept() raises, a bug in a handler, cancellation), the lease
        # is released here; a lease is renewed only while its connection is in the
        # hub, so even a failed release expires within WS_LEASE_SECONDS.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._release()

    async def connect(self) -> None:
        hub = get_hub()
        if hub.draining:  # the process is stopping (streaming.shutdown): come back to another one
            await self.accept()
            await self.send(text_data=protocol.error_text(SHUTDOWN_NOTICE))
            await self.close(code=CLOSE_GOING_AWAY, reason=SHUTDOWN_REASON)
            return
        connection_id = new_connection_id()
        outbox = Outbox(
            self.base_send,
            limit=settings.WS_SEND_QUEUE_SIZE,
            label=connection_id,
            on_gone=self._gone,
            send_timeout=settings.WS_SEND_TIMEOUT_SECONDS,
            abort=functools.partial(transport.abort, self.base_send),
        )
        connection = StreamConnection(
            connection_id, outbox, max_subscriptions=max_subscriptions(self.scope), api_key_id=api_key_id(self.scope)
        )
        self.limiter = RateLimiter(
            rate=settings.WS_RATE_LIMIT_PER_SECOND,
            burst=settings.WS_RATE_LIMIT_PER_SECOND,
            patience=int(settings.WS_RATE_LIMIT_PER_SECOND),
        )
        try:
            admitted = await hub.admit(connection)
        except ServiceUnavailableError as exc:
            logger.error("cannot admit a WebSocket connection: %s", exc)
            metrics.ws_connection_refused("unavailable")
            await self.accept()
            await self.send(text_data=protocol.error_text(f"Service unavailable: {exc.cause}; try again later"))
            await self.close(code=CLOSE_UNAVAILABLE, reason=f"{exc.service} unavailable")
            return
        if not admitted:
            metrics.ws_connection_refused("capacity")
            await self.accept()
            # The reason is also said in-band, for clients that do not show close reasons.
            await self.send(text_data=protocol.error_text(AT_CAPACITY))
            await self.close(code=CLOSE_POLICY, reason=AT_CAPACITY)
            return
        # Owned from here: __call__'s finally gives the lease back even if accept() raises.
        self.hub, self.connection = hub, connection
        await self.accept()
        connection.accepted = True
        if hub.draining:  # the process began stopping while this one was admitted: told as the others
            hub.close_for_shutdown(connection)
            return
        self._send_text(protocol.connected_text(connection.connection_id))
        self._schedule_heartbeat()

    async def disconnect(self, code: int) -> None:
        await self._release()

    async def _release(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        connection, hub = self.connection, self.hub
        if connection is not None and hub is not None:
            connection.outbox.cancel()
            await hub.remove(connection)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        connection = self.connection
        if connection is None or connection.outbox.closed:
            return
        verdict = self.limiter.check(time.monotonic())
        if verdict is not RateVerdict.ALLOW:
            rate = settings.WS_RATE_LIMIT_PER_SECOND
            if verdict is RateVerdict.REJECT:
                self._send_text(protocol.error_text(f"Rate limit exceeded: at most {rate:g} messages per second"))
            elif verdict is RateVerdict.CLOSE:
                self._send_text(protocol.error_text("Rate limit exceeded repeatedly; closing the connection"))
                connection.outbox.close(CLOSE_POLICY, "Rate limit exceeded")
            return
        size = len(bytes_data) if text_data is None and bytes_data is not None else _utf8_length(text_data or "")
        if size > settings.WS_MAX_MESSAGE_BYTES:
            self._send_text(protocol.error_text(f"Message too big: at most {settings.WS_MAX_MESSAGE_BYTES} bytes"))
            connection.outbox.close(CLOSE_TOO_BIG, "Message too big")
            return
        if text_data is None:
            self._send_text(protocol.error_text("Binary frames are not supported: send JSON as text frames"))
            return
        # Exactly one reply per frame, whatever happens while handling it.
        request_id: protocol.RequestId = None
        try:
            chains = await configured_chain_ids()
            message = protocol.parse_client_message(text_data, configured_chains=chains)
            request_id = message.request_id
            await self._handle(message, chains)
        except protocol.ProtocolError as exc:
            self._send_text(protocol.error_text(str(exc), request_id if exc.request_id is None else exc.request_id))
        except Exception as exc:
            unavailable = exc if isinstance(exc, ServiceUnavailableError) else redis_unavailable(exc)
            if unavailable is None:
                logger.exception("%s: unexpected error handling a message", connection.connection_id)
                self._send_text(protocol.error_text(INTERNAL_ERROR, request_id))
                return
            logger.error("%s: a message could not be handled: %s", connection.connection_id, unavailable)
            self._send_text(
                protocol.error_text(
                    f"Service unavailable: {unavailable.cause}; the message was not applied", request_id
                )
            )

    async def _handle(self, message: protocol.ClientMessage, chains: frozenset[int]) -> None:
        connection, hub = self.connection, self.hub
        assert connection is not None and hub is not None
        if isinstance(message, protocol.Ping):
            self._send_text(protocol.pong_text(utc_now_isoformat(), message.request_id))
        elif isinstance(message, protocol.ListSubscriptions):
            self._send_text(protocol.subscriptions_text(connection.subscriptions, message.request_id))
        elif isinstance(message, protocol.Subscribe):
            await hub.join(chains)  # a chain configured since the hub started
            if message.since is not None or message.replay is not None:
                await hub.recover(connection, message, functools.partial(_resumed_reply, message))
                return
            connection.subscribe(message.channel, message.filters)
            # "subscribed" first: every notification after it in the stream matches.
            self._send_text(protocol.subscribed_text(message.channel, message.filters, request_id=message.request_id))
            hub.subscriptions_changed(connection, message.channel)
        else:
            connection.unsubscribe(message.channel)
            hub.subscriptions_changed(connection, message.channel)
            self._send_text(protocol.unsubscribed_text(message.channel, message.request_id))

    def _send_text(self, text: str) -> None:
        assert self.connection is not None
        self.connection.outbox.deliver({"type": "websocket.send", "text": text})

    def _gone(self) -> None:
        # The outbox gave up on the client (too slow, stuck or failed): no more
        # deliveries, and its slot goes back now, not when the socket finally closes.
        if self.hub is not None and self.connection is not None:
            self.hub.discard(self.connection)

    def _schedule_heartbeat(self) -> None:
        self._heartbeat = asyncio.get_running_loop().call_later(settings.WS_HEARTBEAT_SECONDS, self._send_heartbeat)

    def _send_heartbeat(self) -> None:
        if self.connection is None or self.connection.outbox.closed:
            return
        self._send_text(protocol.heartbeat_text(utc_now_isoformat()))
        self._schedule_heartbeat()


def _resumed_reply(message: protocol.Subscribe, found: Recovery) -> str:
    return protocol.subscribed_text(
        message.channel,
        message.filters,
        recovered=found.recovered,
        seq=found.seq,
        epoch=found.epoch,
        request_id=message.request_id,
    )


def _utf8_length(text: str) -> int:
    # A str of n characters is n to 4n bytes in UTF-8; encode only when it matters.
    if len(text) * 4 <= settings.WS_MAX_MESSAGE_BYTES:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))
