"""The configured (enabled) chain ids, cached in the process for a few seconds."""

from __future__ import annotations

import time

from channels.db import database_sync_to_async

from chains.models import Chain

CACHE_SECONDS = 10.0
_cache: tuple[float, frozenset[int]] | None = None


def _load() -> frozenset[int]:
    return frozenset(Chain.objects.filter(enabled=True).values_list("chain_id", flat=True))


async def configured_chain_ids() -> frozenset[int]:
    global _cache
    now = time.monotonic()
    # An empty set is never trusted: at start-up the web process can come up before
    # the worker has loaded the registry, and caching "no chains" would refuse
    # every chain_id filter for the next CACHE_SECONDS.
    if _cache is None or not _cache[1] or now - _cache[0] > CACHE_SECONDS:
        _cache = (now, await database_sync_to_async(_load)())
    return _cache[1]


def configured_chain_ids_cache_clear() -> None:
    global _cache
    _cache = None
