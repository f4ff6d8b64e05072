"""Reads of the streaming app: what a presented API key grants."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from streaming.models import ApiKey
from streaming.services import api_key_hash


@dataclass(frozen=True, slots=True)
class KeyGrant:
    api_key_id: int
    name: str
    max_connections: int
    max_subscriptions: int


def api_key_grant(*, key: str) -> KeyGrant | None:
    """The limits of an active key, or None when the key is unknown or inactive."""
    row = (
        ApiKey.objects.filter(key_hash=api_key_hash(key), is_active=True)
        .values_list("id", "name", "max_connections", "max_subscriptions")
        .first()
    )
    if row is None:
        return None
    return KeyGrant(api_key_id=row[0], name=row[1], max_connections=row[2], max_subscriptions=row[3])


def api_keys_active(*, api_key_ids: Collection[int]) -> set[int]:
    """Which of ``api_key_ids`` are still active (a deleted or deactivated key is not)."""
    return set(ApiKey.objects.filter(id__in=list(api_key_ids), is_active=True).values_list("id", flat=True))
