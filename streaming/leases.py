"""The connection limit shared by every web process: leases in one Redis sorted set.

Each open connection holds a lease (member = connection id, score = expiry time
on the Redis server's clock). Its web process renews the leases of its live
connections every third of the lease time and gives a lease back on disconnect.
A process that is killed stops renewing, so its slots return at most one lease
time later; a bare counter would leak them forever.

Leases asked for, or given back, at the same moment go to Redis together
(``streaming.coalesce``): a thousand clients reconnecting at once cost a few
commands, not a thousand round trips queued on the connection pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

import redis.asyncio as aioredis

from streaming.coalesce import Coalescer

logger = logging.getLogger(__name__)

# ARGV: limit, lease seconds, then the connection ids, granted in order while slots are free.
_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
local live = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[1])
local expiry = t + tonumber(ARGV[2])
local granted = {}
for i = 3, #ARGV do
  if live < limit then
    live = live + redis.call('ZADD', KEYS[1], expiry, ARGV[i])
    granted[#granted + 1] = 1
  else
    granted[#granted + 1] = 0
  end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 2000))
return granted
"""

# Renewal re-adds a lease that expired meanwhile (a stalled process): the
# connection is open, so it counts, even if that briefly exceeds the limit.
_RENEW = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[1]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 2000))
return #ARGV - 1
"""


class ConnectionLeases:
    def __init__(self, client: aioredis.Redis, *, key: str, limit: int, lease_seconds: float) -> None:
        self._client = client
        self.key = key
        self.limit = limit
        self.lease_seconds = lease_seconds
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._acquiring: Coalescer[str, bool] = Coalescer(self._acquire_many, abandoned=self._give_back)
        self._releasing: Coalescer[str, None] = Coalescer(self._release_many)
        self._background: set[asyncio.Future[None]] = set()

    async def acquire(self, connection_id: str) -> bool:
        """Take a slot for ``connection_id``; False when ``limit`` live leases exist.

        A caller cancelled while Redis grants it does not keep it: the lease is given back.
        """
        return await self._acquiring.submit(connection_id)

    async def _acquire_many(self, connection_ids: list[str]) -> list[bool]:
        granted = await self._acquire(keys=[self.key], args=[self.limit, self.lease_seconds, *connection_ids])
        return [bool(flag) for flag in granted]

    def _give_back(self, connection_id: str, granted: bool) -> None:
        if granted:
            task = asyncio.ensure_future(self.release(connection_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            task.add_done_callback(_log_failure)

    async def renew(self, connection_ids: Collection[str]) -> None:
        ids = list(connection_ids)
        for start in range(0, len(ids), 1000):
            await self._renew(keys=[self.key], args=[self.lease_seconds, *ids[start : start + 1000]])

    async def release(self, *connection_ids: str) -> None:
        await asyncio.gather(*(self._releasing.submit(connection_id) for connection_id in connection_ids))

    async def _release_many(self, connection_ids: list[str]) -> list[None]:
        await self._client.zrem(self.key, *connection_ids)
        return [None] * len(connection_ids)

    async def count(self) -> int:
        """Live leases now (expired ones are not counted)."""
        now_seconds, now_micros = await self._client.time()
        return int(await self._client.zcount(self.key, f"({now_seconds + now_micros / 1e6}", "+inf"))


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("could not give back an abandoned connection lease (it expires by itself): %s", task.exception())
