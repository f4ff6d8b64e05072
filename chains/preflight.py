"""Checks a process runs before it starts working, each failing with one clear line.

A worker that starts against an unmigrated database, an unreachable Redis, a
registry that does not parse, or an RPC endpoint that is down or serves another
chain would otherwise log the same traceback on every task, forever. These
checks find those problems once, at start, and name them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from arbmonitor.env import redacted_url
from chains.clients import chain_client_new


@dataclass(frozen=True, slots=True)
class Problem:
    what: str
    message: str

    def __str__(self) -> str:
        return f"{self.what}: {self.message}"


def check_database() -> list[Problem]:
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return [Problem("database", f"{settings.DATABASE_URL.split('@')[-1]} cannot be used: {exc}".strip())]
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:3])
        more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
        return [Problem("database", f"not migrated ({names}{more}): run `python manage.py migrate`")]
    return []


def check_redis() -> list[Problem]:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return [Problem("redis", f"{redacted_url(settings.REDIS_URL)} does not answer: {exc}")]
    return []


def check_chains(*, rpc: bool = True) -> list[Problem]:
    """The registry parses; with ``rpc``, every enabled chain has an endpoint that answers with its id."""
    from chains.config import registry_enabled_chains
    from evm.rpc import RpcError

    try:
        chains = registry_enabled_chains()
    except ImproperlyConfigured as exc:
        return [Problem("chain registry", str(exc))]
    if not chains:
        return [Problem("chain registry", "no chain is configured (CHAIN_REGISTRY_FILES, ENABLED_CHAINS)")]
    problems: list[Problem] = []
    for config in chains:
        if not config.rpc_urls:
            problems.append(Problem(f"chain {config.chain_id}", f"no RPC URL: set CHAIN_{config.chain_id}_RPC_URLS"))
            continue
        if not rpc:
            continue
        rpc_logger = logging.getLogger("evm.rpc")
        level = rpc_logger.level
        rpc_logger.setLevel(logging.ERROR)  # the failure is reported once, below, not per retry
        try:
            chain_client_new(config, max_retries=0).block_number()
        except RpcError as exc:
            message = str(exc).splitlines()[0].removeprefix(f"chain {config.chain_id}: ")
            problems.append(Problem(f"chain {config.chain_id}", message))
        finally:
            rpc_logger.setLevel(level)
    return problems


def preflight(*, database: bool = True, redis_: bool = True, chains: bool = True, rpc: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    if database:
        problems += check_database()
    if redis_:
        problems += check_redis()
    if chains:
        problems += check_chains(rpc=rpc)
    return problems
