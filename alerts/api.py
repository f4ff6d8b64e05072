"""The alert-rule API's logic: API keys, and rules as JSON in and out (no secrets out)."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from django.utils import timezone

from alerts.models import AlertApiKey, AlertDelivery, AlertRule

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
KEY_PREFIX = "arb_"


def api_key_create(*, name: str) -> tuple[AlertApiKey, str]:
    """A new key; returns (row, the key itself — shown once, only its hash is kept)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = AlertApiKey.objects.create(name=name, prefix=key[:12], key_hash=_hash(key))
    return row, key


def api_key_authenticate(*, key: str) -> AlertApiKey | None:
    if not key:
        return None
    row = AlertApiKey.objects.filter(key_hash=_hash(key), active=True).first()
    if row is not None:
        AlertApiKey.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return row


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class RuleInvalid(Exception):  # noqa: N818 - carries field errors for a 400
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


_FIELDS: dict[str, type] = {
    "name": str,
    "enabled": bool,
    "channel": str,
    "chain_id": int,
    "min_profit": float,
    "max_profit": float,
    "min_swaps": int,
    "pool_address": str,
    "token_address": str,
    "bot_address": str,
    "destination": str,
    "url": str,
    "secret": str,
    "telegram_bot_token": str,
    "telegram_chat_id": str,
    "max_per_hour": int,
    "digest_minutes": int,
}
_NULLABLE = {"chain_id", "min_profit", "max_profit", "min_swaps"}
_WRITE_ONLY = {"secret", "telegram_bot_token"}


def rule_apply(rule: AlertRule, data: dict[str, Any], *, partial: bool) -> AlertRule:
    """Validate ``data`` and copy it onto ``rule`` (saved); raises RuleInvalid with per-field messages."""
    errors: dict[str, str] = {}
    unknown = set(data) - set(_FIELDS)
    for name in sorted(unknown):
        errors[name] = "unknown field"
    for name, kind in _FIELDS.items():
        if name not in data:
            continue
        value = data[name]
        if value is None and name in _NULLABLE:
            setattr(rule, name, None)
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            errors[name] = f"must be {kind.__name__}"
            continue
        if isinstance(value, int) and value < 0:
            errors[name] = "must be >= 0"
            continue
        setattr(rule, name, value)
    if not partial:
        for name in ("name", "channel", "destination"):
            if name not in data:
                errors.setdefault(name, "required")
    if rule.channel not in AlertRule.Channel.values:
        errors.setdefault("channel", f"one of {AlertRule.Channel.values}")
    if rule.destination not in AlertRule.Destination.values:
        errors.setdefault("destination", f"one of {AlertRule.Destination.values}")
    for name in ("pool_address", "token_address", "bot_address"):
        value = getattr(rule, name)
        if value and not _ADDRESS.match(value):
            errors.setdefault(name, "a 0x address of 40 hex digits")
    if rule.destination in ("webhook", "discord") and not re.match(r"^https?://", rule.url or ""):
        errors.setdefault("url", "an http(s) URL is required for this destination")
    if rule.destination == "telegram" and not (rule.telegram_bot_token and rule.telegram_chat_id):
        errors.setdefault("telegram_chat_id", "telegram needs telegram_bot_token and telegram_chat_id")
    if errors:
        raise RuleInvalid(errors)
    rule.save()
    return rule


def rule_data(rule: AlertRule) -> dict[str, Any]:
    """A rule as the API shows it: secrets are never returned, only whether they are set."""
    data: dict[str, Any] = {"id": rule.pk, "created_at": rule.created_at.isoformat()}
    for name in _FIELDS:
        if name in _WRITE_ONLY:
            data[f"{name}_set"] = bool(getattr(rule, name))
        else:
            data[name] = getattr(rule, name)
    return data


def delivery_data(delivery: AlertDelivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "kind": delivery.kind,
        "row_id": delivery.row_id,
        "idempotency_key": delivery.idempotency_key,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
        "last_error": delivery.last_error,
    }
