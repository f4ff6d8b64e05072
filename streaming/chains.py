"""The configured (enabled) chain ids, cached in the process for a few seconds."""

from __future__ import annotations

import logging
import time

from channels.db import database_sync_to_async
from django.db import DatabaseError

from chains.models import Chain
from streaming.errors import DATABASE, ServiceUnavailableError

logger = logging.getLogger(__name__)

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
        try:
            _cache = (now, await database_sync_to_async(_load)())
        except DatabaseError as exc:
            # The chain list rarely changes: while the database is down, the last one
            # read keeps the stream usable; with none, say which service is missing.
            if _cache is None or not _cache[1]:
                raise ServiceUnavailableError(DATABASE, exc) from exc
            logger.warning("database unreachable, keeping the last chain list for %.0f s: %s", CACHE_SECONDS, exc)
            _cache = (now, _cache[1])
    return _cache[1]


def configured_chain_ids_cache_clear() -> None:
    global _cache
    _cache = None
