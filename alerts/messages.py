"""What each destination receives, built from a delivery's stored payload. Pure functions.

- generic webhook: a JSON document (``alert_document``);
- Discord: an execute-webhook body, ``{"content": ...}`` of at most 2000 characters;
- Telegram: a ``sendMessage`` body, ``{"chat_id": ..., "text": ...}`` of at most 4096 characters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DISCORD_MAX = 2000
TELEGRAM_MAX = 4096
DIGEST_LINES = 10


def alert_document(
    *, kind: str, rule_id: int, rule_name: str, channel: str, idempotency_key: str, payload: Mapping[str, Any]
) -> dict[str, Any]:
    """The generic webhook's JSON body. ``type`` is ``alert``, ``digest`` or ``test``."""
    doc: dict[str, Any] = {
        "type": {"digest": "digest", "test": "test"}.get(kind, "alert"),
        "idempotency_key": idempotency_key,
        "rule": {"id": rule_id, "name": rule_name},
        "channel": channel,
    }
    if kind == "digest":
        doc.update(payload)
    else:
        doc["data"] = dict(payload)
    return doc


def row_line(channel: str, data: Mapping[str, Any]) -> str:
    if channel == "transactions":
        return (
            f"arbitrage tx on chain {data.get('chain_id')}: {data.get('strategy', '?')}, "
            f"{data.get('swap_count')} swaps, "
            f"net ${float(data.get('profit_net_usd', 0)):,.2f} (gross ${float(data.get('profit_gross_usd', 0)):,.2f}), "
            f"block {data.get('block_number')}, tx {data.get('tx_hash')} from {data.get('from_address')}"
        )
    imbalance = data.get("imbalance_pct")
    return (
        f"opportunity on chain {data.get('chain_id')}: {data.get('pool_name')} {data.get('pool_address')}, "
        f"profit ${float(data.get('profit_usd', 0)):,.2f}"
        + (f", imbalance {float(imbalance):.2f}%" if imbalance is not None else "")
        + f", block {data.get('block_number')}"
    )


def alert_text(*, kind: str, rule_name: str, channel: str, payload: Mapping[str, Any]) -> str:
    """One human message for chat destinations."""
    if kind == "test":
        return f"ArbMonitor test alert for rule “{rule_name}”: this destination works."
    if kind == "digest":
        items: Sequence[Mapping[str, Any]] = payload.get("items", [])
        lines = [
            f"ArbMonitor digest for “{rule_name}”: {payload.get('count', len(items))} {channel} matched "
            f"in the last {payload.get('minutes')} min."
        ]
        lines += [f"• {row_line(channel, item)}" for item in items[:DIGEST_LINES]]
        if len(items) > DIGEST_LINES:
            lines.append(f"… and {len(items) - DIGEST_LINES} more")
        return "\n".join(lines)
    return f"ArbMonitor “{rule_name}”: {row_line(channel, payload)}"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def discord_body(text: str) -> dict[str, Any]:
    """Discord's execute-webhook JSON; mentions disabled so a token symbol can never ping anyone."""
    return {"content": truncate(text, DISCORD_MAX), "username": "ArbMonitor", "allowed_mentions": {"parse": []}}


def telegram_body(chat_id: str, text: str) -> dict[str, Any]:
    """Telegram's sendMessage JSON, plain text (no parse_mode, so nothing needs escaping)."""
    return {"chat_id": chat_id, "text": truncate(text, TELEGRAM_MAX), "link_preview_options": {"is_disabled": True}}
