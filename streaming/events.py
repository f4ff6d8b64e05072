"""What crosses the channel layer: one message per event, its text already encoded."""

from __future__ import annotations

from typing import Any, Final

from streaming.protocol import OPPORTUNITIES, TRANSACTIONS, notification_text

EVENT_TYPE: Final = "stream.notification"
# The field each channel's profit filters compare against (the spec's matching logic).
PROFIT_FIELDS: Final = {OPPORTUNITIES: "profit_usd", TRANSACTIONS: "profit_net_usd"}


def group_name(channel: str, chain_id: int) -> str:
    """``opportunities.56``: the channel-layer group of one kind of event on one chain."""
    if channel not in PROFIT_FIELDS:
        raise ValueError(f"unknown channel {channel!r}")
    return f"{channel}.{int(chain_id)}"


def notification_event(channel: str, data: dict[str, Any], *, timestamp: str) -> dict[str, Any]:
    """The channel-layer message of one notification.

    ``text`` is the complete WebSocket message, encoded once here for every client of
    every web process; ``chain_id``, ``profit`` and ``swap_count`` are what the
    fan-out matches filters against, so it never parses ``text`` again.
    """
    swap_count = data.get("swap_count") if channel == TRANSACTIONS else None
    return {
        "type": EVENT_TYPE,
        "channel": channel,
        "chain_id": int(data["chain_id"]),
        "profit": float(data[PROFIT_FIELDS[channel]]),
        "swap_count": None if swap_count is None else int(swap_count),
        "text": notification_text(channel, data, timestamp),
    }
