"""A small client for /ws/v1/stream: typed messages, reconnection with backoff, resume with ``since``.

As a library::

    from streaming.client import Notification, StreamClient, Subscribed

    client = StreamClient("ws://127.0.0.1:8000/ws/v1/stream")
    client.subscribe("opportunities", chain_id=56, min_profit=1000)
    async for message in client.messages():     # reconnects and resumes on its own
        if isinstance(message, Notification):
            print(message.seq, message.data["pool_name"])
        elif isinstance(message, Retracted):
            ...  # a reorg removed these rows (message.ids): drop them
        elif isinstance(message, Subscribed) and message.recovered is False:
            ...  # the history no longer held what was missed: re-read from the database

From the command line::

    python -m streaming.client ws://127.0.0.1:8000/ws/v1/stream
    python -m streaming.client URL --channel transactions --chain 137 --min-swaps 3
    python -m streaming.client URL --json          # raw messages, one per line

A subscription with a ``chain_id`` is resumed after a reconnection: the client keeps the
highest ``seq`` (and its ``epoch``) it saw per chain and channel and subscribes again with
``since``, so it gets exactly what it missed (docs/protocol.md "Resuming"). A subscription
without ``chain_id`` is subscribed again without ``since`` (sequence numbers are per chain).
The client answers heartbeats with a ping, as the spec's example does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

CHANNEL_OF = {"opportunity": "opportunities", "transaction": "transactions"}


# --- typed server messages ---------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    connection_id: str
    message: str


@dataclass(frozen=True)
class Subscribed:
    channel: str
    filters: dict[str, Any]
    recovered: bool | None = None  # None: a plain subscribe (no since/replay)
    seq: int | None = None
    epoch: str | None = None
    id: str | int | None = None


@dataclass(frozen=True)
class Unsubscribed:
    channel: str
    id: str | int | None = None


@dataclass(frozen=True)
class Subscriptions:
    subscriptions: list[dict[str, Any]]
    id: str | int | None = None


@dataclass(frozen=True)
class Notification:
    """An ``opportunity`` or ``transaction``; ``seq``/``epoch`` are None from a server without them."""

    type: str
    channel: str
    timestamp: str
    data: dict[str, Any]
    seq: int | None = None
    epoch: str | None = None


@dataclass(frozen=True)
class Retracted:
    """A reorg removed stored rows: ``ids`` are the ``data.id`` of notifications sent earlier."""

    channel: str
    chain_id: int
    from_block: int
    ids: list[int]
    timestamp: str
    reason: str = "reorg"
    seq: int | None = None
    epoch: str | None = None


@dataclass(frozen=True)
class Pong:
    timestamp: str
    id: str | int | None = None


@dataclass(frozen=True)
class Heartbeat:
    timestamp: str


@dataclass(frozen=True)
class Error:
    message: str
    id: str | int | None = None


@dataclass(frozen=True)
class Unknown:
    raw: dict[str, Any]


Message = (
    Connected
    | Subscribed
    | Unsubscribed
    | Subscriptions
    | Notification
    | Retracted
    | Pong
    | Heartbeat
    | Error
    | Unknown
)


def parse_message(raw: dict[str, Any]) -> Message:
    """One decoded server message as its typed value (``Unknown`` for a type this client does not know)."""
    kind = raw.get("type")
    if kind in CHANNEL_OF:
        return Notification(kind, CHANNEL_OF[kind], raw["timestamp"], raw["data"], raw.get("seq"), raw.get("epoch"))
    if kind == "retracted":
        return Retracted(
            raw["channel"],
            int(raw["chain_id"]),
            int(raw["from_block"]),
            [int(i) for i in raw["ids"]],
            raw["timestamp"],
            raw.get("reason", "reorg"),
            raw.get("seq"),
            raw.get("epoch"),
        )
    if kind == "subscribed":
        return Subscribed(
            raw["channel"], raw["filters"], raw.get("recovered"), raw.get("seq"), raw.get("epoch"), raw.get("id")
        )
    if kind == "connected":
        return Connected(raw["connection_id"], raw["message"])
    if kind == "unsubscribed":
        return Unsubscribed(raw["channel"], raw.get("id"))
    if kind == "subscriptions":
        return Subscriptions(raw["subscriptions"], raw.get("id"))
    if kind == "pong":
        return Pong(raw["timestamp"], raw.get("id"))
    if kind == "heartbeat":
        return Heartbeat(raw["timestamp"])
    if kind == "error":
        return Error(raw["message"], raw.get("id"))
    return Unknown(raw)


def _subscribe_refused(message: Message) -> bool:
    return (
        isinstance(message, Error)
        and str(message.id).startswith("subscribe-")
        and message.message.startswith("Service unavailable")
    )


def should_reconnect(code: int | None, reason: str = "") -> bool:
    """docs/protocol.md "Close codes": False for the closes that a reconnection would only repeat."""
    return not (code in (1009, 4001, 4003) or (code == 1008 and reason == "Rate limit exceeded"))


def backoff_delay(attempt: int, *, first: float, maximum: float) -> float:
    """Exponential backoff with jitter: between half and all of ``min(maximum, first * 2**attempt)``."""
    cap = min(maximum, first * 2 ** min(attempt, 32))
    return random.uniform(cap / 2, cap)


# --- the client ------------------------------------------------------------------------------


@dataclass
class StreamClient:
    url: str
    origin: str | None = None
    backoff_first: float = 0.1
    backoff_max: float = 10.0
    open_timeout: float = 10.0
    subscriptions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # (channel, chain_id) -> (highest seq seen, its epoch): where a resume starts.
    positions: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)
    connections: int = 0  # successful connections so far (1 + reconnections)
    closes: list[tuple[int | None, str]] = field(default_factory=list)  # (code, reason) of each close received
    _ws: ClientConnection | None = None
    _closed: bool = False

    def subscribe(self, channel: str, **filters: Any) -> None:
        """Subscribe on every (re)connection; with ``chain_id``, resumed from the last position seen."""
        self.subscriptions.append((channel, filters))

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()

    def drop(self) -> None:
        """Abort the current connection as a network failure would; :meth:`messages` reconnects and resumes."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message on the current connection (e.g. a ``ping`` or ``list_subscriptions``)."""
        if self._ws is None:
            raise ConnectionError("not connected")
        await self._ws.send(json.dumps(message))

    def _subscribe_message(self, index: int, channel: str, filters: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "subscribe",
            "channel": channel,
            "filters": filters,
            "id": f"subscribe-{index}",
        }
        chain_id = filters.get("chain_id")
        position = self.positions.get((channel, chain_id)) if chain_id is not None else None
        if position is not None:
            message["since"] = {"seq": position[0], "epoch": position[1]}
        elif chain_id is not None:
            # No notification seen yet: ask for the position only, so that a reconnection before the
            # first notification still resumes from here (a quiet filter would otherwise lose what
            # was published while it was away).
            message["replay"] = 0
        return message

    def _track(self, message: Message) -> None:
        if isinstance(message, Notification | Retracted) and message.seq is not None and message.epoch is not None:
            # A retraction is numbered in its chain's sequence too: a resume starts after it.
            chain_id = message.chain_id if isinstance(message, Retracted) else int(message.data["chain_id"])
            key = (message.channel, chain_id)
            current = self.positions.get(key)
            if current is None or current[1] != message.epoch or message.seq > current[0]:
                self.positions[key] = (message.seq, message.epoch)
        elif (
            isinstance(message, Subscribed)
            and message.recovered is not None
            and message.filters.get("chain_id") is not None
            and message.seq is not None
            and message.epoch is not None
        ):
            key = (message.channel, message.filters["chain_id"])
            if message.recovered is False or key not in self.positions:
                # Not recovered (the caller was told): live notifications continue from the server's
                # position. Or the first subscribe (``replay: 0``): resume from there until a
                # notification moves the position on. (A recovered resume's replay moves it itself.)
                self.positions[key] = (message.seq, message.epoch)

    async def messages(self) -> AsyncIterator[Message]:
        """Every message, across reconnections, until :meth:`close`. Heartbeats are answered with a ping."""
        attempt = 0
        refused = 0  # subscribes refused in a row because the server could not serve them (Redis busy or down)
        while not self._closed:
            try:
                async with connect(self.url, origin=self.origin, open_timeout=self.open_timeout, max_size=2**20) as ws:  # type: ignore[arg-type]
                    self._ws = ws
                    self.connections += 1
                    attempt = 0
                    for index, (channel, filters) in enumerate(self.subscriptions):
                        await ws.send(json.dumps(self._subscribe_message(index, channel, filters)))
                    async for raw in ws:
                        message = parse_message(json.loads(raw))
                        self._track(message)
                        if isinstance(message, Heartbeat):
                            await ws.send(json.dumps({"type": "ping"}))
                        elif isinstance(message, Subscribed) and str(message.id).startswith("subscribe-"):
                            refused = 0
                        yield message
                        if _subscribe_refused(message):
                            # Not applied (the server could not reach Redis in time): a new connection
                            # after a backoff subscribes (and resumes) again.
                            refused += 1
                            attempt = refused
                            await ws.close()
                            break
                    else:
                        # A normal close (1000, 1001) ends the iteration; the others raise below.
                        self.closes.append((ws.close_code, ws.close_reason or ""))
            except ConnectionClosed as exc:
                received = exc.rcvd
                self.closes.append((None, "") if received is None else (received.code, received.reason))
                if received is not None and not should_reconnect(received.code, received.reason):
                    raise
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                pass
            finally:
                self._ws = None
            if self._closed:
                return
            await asyncio.sleep(backoff_delay(attempt, first=self.backoff_first, maximum=self.backoff_max))
            attempt += 1


# --- command line --------------------------------------------------------------------------------


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if args.chain is not None:
        filters["chain_id"] = args.chain
    if args.min_profit is not None:
        filters["min_profit"] = args.min_profit
    if args.max_profit is not None:
        filters["max_profit"] = args.max_profit
    if args.min_swaps is not None:
        filters["min_swaps"] = args.min_swaps
    return filters


def _line(message: Message) -> str | None:
    if isinstance(message, Notification):
        data = message.data
        if message.type == "opportunity":
            return (
                f"{message.timestamp}  opportunity #{message.seq}  chain {data['chain_id']}  "
                f"block {data['block_number']}  {data['pool_name']} {data['pool_address']}  "
                f"${data['profit_usd']:,.2f}  imbalance {data['imbalance_pct']}%"
            )
        return (
            f"{message.timestamp}  transaction #{message.seq}  chain {data['chain_id']}  block {data['block_number']}  "
            f"{data['strategy']} {data['tx_hash']}  net ${data['profit_net_usd']:,.2f} "
            f"(gross ${data['profit_gross_usd']:,.2f}, gas ${data['gas_cost_usd']:,.4f})"
        )
    if isinstance(message, Retracted):
        return (
            f"{message.timestamp}  retracted #{message.seq}  chain {message.chain_id}  {message.channel} "
            f"from block {message.from_block} ({message.reason}): ids {message.ids}"
        )
    if isinstance(message, Connected | Subscribed | Unsubscribed | Error | Subscriptions):
        return repr(message)
    return None


async def run(args: argparse.Namespace) -> None:
    client = StreamClient(args.url)
    for channel in ["opportunities", "transactions"] if args.channel == "all" else [args.channel]:
        filters = _filters(args)
        if channel == "opportunities":
            filters.pop("min_swaps", None)
        client.subscribe(channel, **filters)
    async for message in client.messages():
        text = json.dumps(message.__dict__) if args.json else _line(message)
        if text:
            print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streaming.client", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8000/ws/v1/stream")
    parser.add_argument("--channel", choices=["opportunities", "transactions", "all"], default="all")
    parser.add_argument("--chain", type=int, help="chain id filter (needed to resume after a reconnection)")
    parser.add_argument("--min-profit", type=float, help="USD")
    parser.add_argument("--max-profit", type=float, help="USD")
    parser.add_argument("--min-swaps", type=int, help="transactions only")
    parser.add_argument("--json", action="store_true", help="print messages as JSON")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
