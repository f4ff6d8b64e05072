"""The configured chain ids: the chain registry's enabled chains and the database's, the latter
cached in the process for a few seconds.

The registry (``CHAIN_REGISTRY_FILES`` / ``ENABLED_CHAINS``) is read from this process's own
configuration, not only from the ``Chain`` rows a worker writes when it syncs it: a web process
that starts before the first sync must still join the chain's channel-layer groups at once, or
the notifications of the first scans (published to groups nobody had joined) are lost.
"""

from __future__ import annotations

import logging
import time

from channels.db import database_sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from chains.config import registry_enabled_chains
from chains.models import Chain
from streaming.errors import DATABASE, ServiceUnavailableError

logger = logging.getLogger(__name__)

CACHE_SECONDS = 10.0
_cache: tuple[float, frozenset[int]] | None = None
_registry: frozenset[int] | None = None


def _registry_chain_ids() -> frozenset[int]:
    """The registry's enabled chains, read once per process (the files do not change under it)."""
    global _registry
    if _registry is None:
        try:
            _registry = frozenset(config.chain_id for config in registry_enabled_chains())
        except ImproperlyConfigured as exc:
            # A web host need not carry the registry files: the database's chains (synced by the workers) serve.
            logger.info("chain registry not readable here, serving the database's chains only: %s", exc)
            _registry = frozenset()
    return _registry


def _load() -> frozenset[int]:
    return _registry_chain_ids() | frozenset(Chain.objects.filter(enabled=True).values_list("chain_id", flat=True))


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
    global _cache, _registry
    _cache = _registry = None
