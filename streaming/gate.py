"""The stream's door: API keys, anonymous access, and per-key / per-address connection slots.

:class:`StreamGate` wraps the stream consumer (see ``streaming.routing``). Before the
consumer sees a handshake it works out who is connecting (``streaming.access``), looks
the key up, and takes a slot in that key's (or, for an anonymous client, that
address's) lease set in Redis: the same leases as the global cap
(``streaming.leases``), so every web process counts the same slots and a killed
process's slots come back within ``WS_LEASE_SECONDS``. Then the consumer runs as
before (it takes the global slot); whatever ends the connection, the gate gives its
slot back. A refused client gets an ``error`` and a documented close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError

from arbmonitor import metrics
from streaming import protocol
from streaming.access import SUBPROTOCOL, CredentialError, client_address, credentials_from_scope
from streaming.connection import new_connection_id
from streaming.errors import DATABASE, ServiceUnavailableError, redis_unavailable
from streaming.leases import ConnectionLeases
from streaming.selectors import KeyGrant, api_key_grant
from streaming.services import api_key_mark_used

logger = logging.getLogger(__name__)

CLOSE_POLICY: Final = 1008  # over a per-key or per-address cap: reconnect later
CLOSE_UNAVAILABLE: Final = 1011
CLOSE_INVALID_KEY: Final = 4001  # unknown, inactive or malformed key: do not retry with it
CLOSE_KEY_REQUIRED: Final = 4003  # anonymous access is off: do not retry without a key
GRANT: Final = "arbmonitor.grant"  # the scope entry the consumer reads
_REFUSAL_DRAIN_SECONDS: Final = 10.0

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Grant:
    """What one connection may do: its key (None: anonymous), its limits and its slot's lease set."""

    api_key_id: int | None
    address: str | None
    max_connections: int  # 0: no cap of its own (only the global one)
    max_subscriptions: int
    lease_key: str | None


class RefusedError(Exception):
    def __init__(self, code: int, reason: str, message: str, metric: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.metric = code, reason, message, metric


def max_subscriptions(scope: dict[str, Any]) -> int:
    """The subscription cap of the connection behind ``scope`` (the key's, else WS_MAX_SUBSCRIPTIONS)."""
    grant = scope.get(GRANT)
    return grant.max_subscriptions if isinstance(grant, Grant) else settings.WS_MAX_SUBSCRIPTIONS


def api_key_id(scope: dict[str, Any]) -> int | None:
    """The API key id the connection behind ``scope`` was let in with (None: anonymous)."""
    grant = scope.get(GRANT)
    return grant.api_key_id if isinstance(grant, Grant) else None


def _lookup(key: str) -> KeyGrant | None:
    grant = api_key_grant(key=key)
    if grant is not None:
        api_key_mark_used(api_key_id=grant.api_key_id)
    return grant


async def connection_grant(scope: dict[str, Any]) -> Grant:
    """Who may connect with this handshake; raises :class:`RefusedError` or ``ServiceUnavailableError``."""
    try:
        credentials = credentials_from_scope(scope)
    except CredentialError as exc:
        raise RefusedError(CLOSE_INVALID_KEY, "Invalid API key", str(exc), "invalid_key") from None
    address = client_address(scope, settings.WS_TRUSTED_PROXIES)
    if credentials.key is None:
        if not settings.WS_ALLOW_ANONYMOUS:
            raise RefusedError(
                CLOSE_KEY_REQUIRED,
                "API key required",
                "API key required: this server does not accept anonymous connections",
                "key_required",
            )
        cap = settings.WS_MAX_CONNECTIONS_PER_IP
        lease_key = f"{settings.WS_LEASE_KEY}:ip:{address}" if cap and address else None
        return Grant(None, address, cap, settings.WS_MAX_SUBSCRIPTIONS, lease_key)
    try:
        found = await database_sync_to_async(_lookup)(credentials.key)
    except DatabaseError as exc:
        raise ServiceUnavailableError(DATABASE, exc) from exc
    if found is None:
        raise RefusedError(CLOSE_INVALID_KEY, "Invalid API key", "Invalid API key: unknown or inactive", "invalid_key")
    lease_key = f"{settings.WS_LEASE_KEY}:key:{found.api_key_id}"
    return Grant(found.api_key_id, address, found.max_connections, found.max_subscriptions, lease_key)


class ClientSlots:
    """This process's per-key / per-address leases: taken, renewed every third of a lease time, given back."""

    def __init__(self) -> None:
        self._redis = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(settings.REDIS_URL, max_connections=10, timeout=10)
        )
        self._held: dict[str, set[str]] = {}
        self._leases: dict[str, ConnectionLeases] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[None]] = set()

    def _leases_for(self, lease_key: str, limit: int) -> ConnectionLeases:
        leases = self._leases.get(lease_key)
        if leases is None:
            leases = self._leases[lease_key] = ConnectionLeases(
                self._redis, key=lease_key, limit=limit, lease_seconds=settings.WS_LEASE_SECONDS
            )
        leases.limit = limit  # an admin may have changed the key's cap
        return leases

    async def acquire(self, lease_key: str, slot_id: str, limit: int) -> bool:
        leases = self._leases_for(lease_key, limit)
        try:
            acquired = await leases.acquire(slot_id)
        except BaseException:
            # Redis may have granted it before the failure or cancellation: give it back (else it expires).
            self._background.add(task := asyncio.ensure_future(self._release_quietly(leases, slot_id)))
            task.add_done_callback(self._background.discard)
            raise
        if acquired:
            self._held.setdefault(lease_key, set()).add(slot_id)
            if self._renewer is None or self._renewer.done():
                self._renewer = asyncio.ensure_future(self._renew_loop())
        return acquired

    async def release(self, lease_key: str, slot_id: str) -> None:
        held = self._held.get(lease_key)
        if held is None or slot_id not in held:
            return
        # Not renewed from here on, so the lease cannot outlive WS_LEASE_SECONDS even if ZREM fails.
        held.discard(slot_id)
        leases = self._leases[lease_key]
        if not held:
            del self._held[lease_key]
            del self._leases[lease_key]
        await asyncio.shield(self._release_quietly(leases, slot_id))

    @staticmethod
    async def _release_quietly(leases: ConnectionLeases, slot_id: str) -> None:
        try:
            await leases.release(slot_id)
        except Exception as exc:
            logger.warning("could not release slot %s in %s (it expires by itself): %s", slot_id, leases.key, exc)

    async def _renew_loop(self) -> None:
        interval = max(settings.WS_LEASE_SECONDS / 3, 0.1)
        while self._held:
            await asyncio.sleep(interval)
            for lease_key, slot_ids in list(self._held.items()):
                try:
                    await self._leases[lease_key].renew(list(slot_ids))
                except KeyError:  # released meanwhile
                    continue
                except Exception as exc:
                    logger.error("renewing the slots in %s failed: %s", lease_key, exc)


_slots: dict[asyncio.AbstractEventLoop, ClientSlots] = {}


def get_slots() -> ClientSlots:
    """This event loop's slot keeper (one per web process)."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        for old in [old for old in _slots if old.is_closed()]:
            del _slots[old]
        slots = _slots[loop] = ClientSlots()
    return slots


class _SelectSubprotocol:
    """``send`` that answers the handshake with the protocol's subprotocol (never the key's)."""

    __slots__ = ("__wrapped__", "subprotocol")

    def __init__(self, send: Send, subprotocol: str) -> None:
        self.__wrapped__ = send  # streaming.transport finds the server's transport through it
        self.subprotocol = subprotocol

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept" and not message.get("subprotocol"):
            message = {**message, "subprotocol": self.subprotocol}
        await self.__wrapped__(message)


async def refuse(receive: Receive, send: Send, subprotocol: str | None, code: int, reason: str, text: str) -> None:
    """Complete the handshake, say why in an ``error``, close with ``code`` (like the consumer's refusals)."""
    first = await receive()
    if first.get("type") != "websocket.connect":
        return
    await send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": []})
    await send({"type": "websocket.send", "text": protocol.error_text(text)})
    await send({"type": "websocket.close", "code": code, "reason": reason})
    with contextlib.suppress(TimeoutError, Exception):
        async with asyncio.timeout(_REFUSAL_DRAIN_SECONDS):
            while (await receive()).get("type") != "websocket.disconnect":
                pass


class StreamGate:
    """ASGI middleware in front of the stream consumer (see the module docstring)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope.get("type") != "websocket":
            await self.inner(scope, receive, send)
            return
        subprotocol = SUBPROTOCOL if SUBPROTOCOL in (scope.get("subprotocols") or ()) else None
        slots: ClientSlots | None = None
        slot_id = new_connection_id()
        try:
            grant = await connection_grant(scope)
            if grant.lease_key is not None:
                slots = get_slots()
                try:
                    acquired = await slots.acquire(grant.lease_key, slot_id, grant.max_connections)
                except Exception as exc:
                    unavailable = redis_unavailable(exc)
                    if unavailable is None:
                        raise
                    raise unavailable from exc
                if not acquired:
                    whom = "this API key" if grant.api_key_id is not None else "your address"
                    raise RefusedError(
                        CLOSE_POLICY,
                        f"Too many connections for {whom}",
                        f"Too many connections for {whom}: at most {grant.max_connections}; close one first",
                        "key_capacity" if grant.api_key_id is not None else "address_capacity",
                    )
        except RefusedError as refusal:
            metrics.ws_connection_refused(refusal.metric)
            await refuse(receive, send, subprotocol, refusal.code, refusal.reason, refusal.message)
            return
        except ServiceUnavailableError as exc:
            logger.error("cannot admit a WebSocket connection: %s", exc)
            metrics.ws_connection_refused("unavailable")
            text = f"Service unavailable: {exc.cause}; try again later"
            await refuse(receive, send, subprotocol, CLOSE_UNAVAILABLE, f"{exc.service} unavailable", text)
            return
        try:
            inner_send: Send = send if subprotocol is None else _SelectSubprotocol(send, subprotocol)
            await self.inner({**scope, GRANT: grant}, receive, inner_send)
        finally:
            if slots is not None and grant.lease_key is not None:
                await slots.release(grant.lease_key, slot_id)
