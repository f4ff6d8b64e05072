"""The WebSocket protocol of ``/ws/v1/stream`` (spec: websocket-streaming.md), as pure functions.

Parsing and validation of client messages, and the encoded text of every server
message. No Django, no I/O: the consumer and the fan-out call these.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

from streaming.filters import SubscriptionFilter

OPPORTUNITIES: Final = "opportunities"
TRANSACTIONS: Final = "transactions"
CHANNELS: Final = (OPPORTUNITIES, TRANSACTIONS)
# Notification "type" per channel.
NOTIFICATION_TYPES: Final = {OPPORTUNITIES: "opportunity", TRANSACTIONS: "transaction"}
# The spec's welcome text, verbatim.
WELCOME: Final = "Connected to Multi-Chain Arbitrage Monitor WebSocket"

FILTER_KEYS: Final = {
    OPPORTUNITIES: ("chain_id", "min_profit", "max_profit"),
    TRANSACTIONS: ("chain_id", "min_profit", "max_profit", "min_swaps"),
}
_MESSAGE_TYPES = "'subscribe', 'unsubscribe' or 'ping'"
_ECHO_LIMIT = 64  # characters of a client's bad value quoted back in an error


class ProtocolError(ValueError):
    """A client message that cannot be acted on; ``str(error)`` is the ``error`` message text."""

    request_id: RequestId = None  # the frame's valid ``id``, echoed in the error


# A client's request ``id``: echoed in the reply to that request (docs/protocol.md "Request ids").
RequestId = str | int | None


@dataclass(frozen=True, slots=True)
class Since:
    """Resume after notification ``seq`` of history ``epoch`` (docs/protocol.md "Resuming")."""

    seq: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    channel: str
    filters: SubscriptionFilter
    since: Since | None = None
    replay: int | None = None  # the last N notifications, then live ones (0: none, only the position)
    request_id: RequestId = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channel: str
    request_id: RequestId = None


@dataclass(frozen=True, slots=True)
class Ping:
    request_id: RequestId = None


@dataclass(frozen=True, slots=True)
class ListSubscriptions:
    request_id: RequestId = None


ClientMessage = Subscribe | Unsubscribe | Ping | ListSubscriptions


# --- client -> server ----------------------------------------------------------------


def _quote(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "…"


def _reject_constant(name: str) -> float:
    raise ProtocolError(f"Invalid JSON: {name} is not allowed")


def decode_json(text: str) -> Any:
    """Strict JSON: NaN and Infinity literals are refused (they are not JSON)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except (ValueError, RecursionError):
        raise ProtocolError("Invalid JSON: messages must be JSON objects") from None


def parse_client_message(text: str, *, configured_chains: Collection[int]) -> ClientMessage:
    """Validate one text frame; raise :class:`ProtocolError` with the text to send back."""
    payload = decode_json(text)
    if not isinstance(payload, dict):
        raise ProtocolError("Invalid message: expected a JSON object")
    request_id = _request_id(payload)
    try:
        return _parse(payload, request_id, configured_chains)
    except ProtocolError as exc:
        exc.request_id = request_id
        raise


def _request_id(payload: dict[str, Any]) -> RequestId:
    value = payload.get("id")
    if value is None:
        return None
    if (isinstance(value, str) and len(value) <= _ECHO_LIMIT) or (type(value) is int and abs(value) < 2**53):
        return value
    raise ProtocolError(
        f"Invalid id: must be a string of at most {_ECHO_LIMIT} characters or an integer, got {_quote(value)}"
    )


def _parse(payload: dict[str, Any], request_id: RequestId, configured_chains: Collection[int]) -> ClientMessage:
    kind = payload.get("type")
    if kind is None:
        raise ProtocolError(f"Missing message type. Must be {_MESSAGE_TYPES}")
    if kind == "ping":
        return Ping(request_id)
    if kind == "list_subscriptions":
        return ListSubscriptions(request_id)
    if kind == "subscribe":
        channel = _channel(payload)
        filters = parse_filters(channel, payload.get("filters", {}), configured_chains)
        since, replay = _resume(payload)
        if (since is not None or replay is not None) and filters.chain_id is None:
            raise ProtocolError(
                "Invalid subscribe: 'since' and 'replay' need a chain_id filter "
                "(sequence numbers are per chain and channel)"
            )
        return Subscribe(channel, filters, since, replay, request_id)
    if kind == "unsubscribe":
        return Unsubscribe(_channel(payload), request_id)
    raise ProtocolError(f"Unknown message type: {_quote(kind)}. Must be {_MESSAGE_TYPES}")


def _resume(payload: dict[str, Any]) -> tuple[Since | None, int | None]:
    raw_since, raw_replay = payload.get("since"), payload.get("replay")
    if raw_since is not None and raw_replay is not None:
        raise ProtocolError("Invalid subscribe: give 'since' or 'replay', not both")
    replay = None
    if raw_replay is not None:
        if type(raw_replay) is not int or raw_replay < 0:
            raise ProtocolError(f"Invalid replay: must be an integer >= 0, got {_quote(raw_replay)}")
        replay = raw_replay
    since = None
    if raw_since is not None:
        if not isinstance(raw_since, dict):
            raise ProtocolError('Invalid since: must be an object {"seq": N, "epoch": "..."}')
        seq, epoch = raw_since.get("seq"), raw_since.get("epoch")
        if type(seq) is not int or seq < 0:
            raise ProtocolError(f"Invalid since: seq must be a non-negative integer, got {_quote(seq)}")
        if not isinstance(epoch, str) or len(epoch) > _ECHO_LIMIT:
            raise ProtocolError(f"Invalid since: epoch must be a string (from a notification), got {_quote(epoch)}")
        since = Since(seq, epoch)
    return since, replay


def _channel(payload: dict[str, Any]) -> str:
    channel = payload.get("channel")
    if channel not in CHANNELS:
        shown = "missing" if channel is None else _quote(channel)
        raise ProtocolError(f"Invalid channel: {shown}. Must be 'opportunities' or 'transactions'")
    return str(channel)


def parse_filters(channel: str, raw: object, configured_chains: Collection[int]) -> SubscriptionFilter:
    if not isinstance(raw, dict):
        raise ProtocolError("Invalid filters: must be a JSON object")
    allowed = FILTER_KEYS[channel]
    unknown = sorted(str(key) for key in raw if key not in allowed)
    if unknown:
        if unknown == ["min_swaps"]:
            raise ProtocolError("Invalid filter: min_swaps applies to the 'transactions' channel only")
        raise ProtocolError(f"Unknown filter: {_quote(', '.join(unknown))}. Allowed: {', '.join(allowed)}")
    chain_id = _non_negative_int(raw, "chain_id")
    if chain_id is not None and chain_id not in configured_chains:
        chains = ", ".join(str(c) for c in sorted(configured_chains)) or "none"
        raise ProtocolError(
            f"Invalid filter: chain_id {_quote(chain_id)} is not a configured chain (configured: {chains})"
        )
    min_profit = _non_negative_number(raw, "min_profit")
    max_profit = _non_negative_number(raw, "max_profit")
    if min_profit is not None and max_profit is not None and min_profit > max_profit:
        raise ProtocolError("Invalid filter: min_profit must not be greater than max_profit")
    return SubscriptionFilter(
        chain_id=chain_id,
        min_profit=min_profit,
        max_profit=max_profit,
        min_swaps=_non_negative_int(raw, "min_swaps"),
    )


def _non_negative_int(raw: dict[str, Any], key: str) -> int | None:
    if key not in raw:
        return None
    value = raw[key]
    # bool is an int subclass; 56.0 is not an integer on this protocol.
    if type(value) is not int or value < 0:
        raise ProtocolError(f"Invalid filter: {key} must be a non-negative integer, got {_quote(value)}")
    return value


def _non_negative_number(raw: dict[str, Any], key: str) -> float | None:
    if key not in raw:
        return None
    value = raw[key]
    if type(value) not in (int, float) or value < 0:
        raise ProtocolError(f"Invalid filter: {key} must be a non-negative finite number, got {_quote(value)}")
    try:
        number = float(value)  # an int of 309+ digits has no float: OverflowError
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ProtocolError(f"Invalid filter: {key} must be a non-negative finite number, got {_quote(value)}")
    return number


# --- server -> client ----------------------------------------------------------------------


def _encode(message: dict[str, Any], request_id: RequestId = None) -> str:
    if request_id is not None:
        message["id"] = request_id
    return json.dumps(message, separators=(", ", ": "), allow_nan=False)


def connected_text(connection_id: str) -> str:
    return _encode({"type": "connected", "connection_id": connection_id, "message": WELCOME})


def subscribed_text(
    channel: str,
    filters: SubscriptionFilter,
    *,
    recovered: bool | None = None,
    seq: int = 0,
    epoch: str = "",
    request_id: RequestId = None,
) -> str:
    """The seed's reply; with ``recovered`` (a ``since``/``replay`` subscribe) also the group's position."""
    message: dict[str, Any] = {"type": "subscribed", "channel": channel, "filters": filters.as_json()}
    if recovered is not None:
        message.update(recovered=recovered, seq=seq, epoch=epoch)
    return _encode(message, request_id)


def unsubscribed_text(channel: str, request_id: RequestId = None) -> str:
    return _encode({"type": "unsubscribed", "channel": channel}, request_id)


def pong_text(timestamp: str, request_id: RequestId = None) -> str:
    return _encode({"type": "pong", "timestamp": timestamp}, request_id)


def subscriptions_text(subscriptions: dict[str, list[SubscriptionFilter]], request_id: RequestId = None) -> str:
    """The reply to ``list_subscriptions``: every subscription, in the order they were made per channel."""
    listed = [
        {"channel": channel, "filters": f.as_json()} for channel in CHANNELS for f in subscriptions.get(channel, [])
    ]
    return _encode({"type": "subscriptions", "subscriptions": listed}, request_id)


def heartbeat_text(timestamp: str) -> str:
    return _encode({"type": "heartbeat", "timestamp": timestamp})


def error_text(message: str, request_id: RequestId = None) -> str:
    return _encode({"type": "error", "message": message}, request_id)


def retracted_text(channel: str, chain_id: int, from_block: int, ids: list[int], timestamp: str) -> str:
    """A reorg removed these stored rows (``ids``: the ``data.id`` of notifications sent earlier)."""
    return _encode(
        {
            "type": "retracted",
            "timestamp": timestamp,
            "channel": channel,
            "chain_id": chain_id,
            "from_block": from_block,
            "reason": "reorg",
            "ids": ids,
        }
    )


def notification_text(channel: str, data: dict[str, Any], timestamp: str) -> str:
    """The whole ``opportunity`` / ``transaction`` message, encoded once per event."""
    return _encode({"type": NOTIFICATION_TYPES[channel], "timestamp": timestamp, "data": data})
