"""Why a connection cannot be served right now, named for the client."""

from __future__ import annotations

import asyncio
from typing import Final

REDIS: Final = "Redis"
DATABASE: Final = "Database"


class ServiceUnavailableError(Exception):
    """A backing service is unreachable. ``cause`` is said to the client; the exception stays in the log."""

    def __init__(self, service: str, error: BaseException) -> None:
        self.service = service
        self.error = error
        self.cause = "Redis is unreachable" if service == REDIS else "the database is unreachable"
        super().__init__(f"{self.cause} ({type(error).__name__}: {error})")


def redis_unavailable(error: BaseException) -> ServiceUnavailableError | None:
    """``error`` as a ServiceUnavailableError if it is a Redis/network failure, else None (a bug: let it raise)."""
    from redis.exceptions import RedisError

    if isinstance(error, RedisError | OSError | asyncio.TimeoutError):
        return ServiceUnavailableError(REDIS, error)
    return None
