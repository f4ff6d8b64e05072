"""Writes of the streaming app: API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Final

from django.db.models import Q
from django.utils import timezone

from streaming.models import ApiKey

KEY_PREFIX: Final = "amk_"
_SHOWN_PREFIX: Final = 12
# last_used_at is written at most this often per key: a burst of connects is one UPDATE.
_LAST_USED_RESOLUTION: Final = timedelta(seconds=60)


def api_key_hash(key: str) -> str:
    """SHA-256 of the key: keys are 256 random bits, so a fast hash cannot be brute-forced and lookups stay indexed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_key_generate() -> str:
    """A new key: ``amk_`` + 43 URL-safe characters (valid in a header, a query string and a subprotocol token)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_assign(*, api_key: ApiKey, key: str) -> None:
    """Set ``api_key``'s hash and prefix from ``key`` (not saved)."""
    api_key.key_hash = api_key_hash(key)
    api_key.prefix = key[:_SHOWN_PREFIX]


def api_key_create(
    *, name: str, max_connections: int = 10, max_subscriptions: int = 32, is_active: bool = True
) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the key, which is not stored and cannot be shown again."""
    key = api_key_generate()
    api_key = ApiKey(
        name=name, max_connections=max_connections, max_subscriptions=max_subscriptions, is_active=is_active
    )
    api_key_assign(api_key=api_key, key=key)
    api_key.full_clean()
    api_key.save()
    return api_key, key


def api_key_mark_used(*, api_key_id: int) -> None:
    """Record a connection with the key (at most one write a minute per key)."""
    now = timezone.now()
    ApiKey.objects.filter(id=api_key_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - _LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
