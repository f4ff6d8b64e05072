"""The connection limit shared by every web process: leases in one Redis sorted set.

Each open connection holds a lease (member = connection id, score = expiry time
on the Redis server's clock). Its web process renews the leases of its live
connections every third of the lease time and gives a lease back on disconnect.
A process that is killed stops renewing, so its slots return at most one lease
time later; a bare counter would leak them forever.
"""

from __future__ import annotations

from collections.abc import Collection

import redis.asyncio as aioredis

_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 2000))
return 1
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

    async def acquire(self, connection_id: str) -> bool:
        """Take a slot for ``connection_id``; False when ``limit`` live leases exist."""
        return bool(await self._acquire(keys=[self.key], args=[self.limit, self.lease_seconds, connection_id]))

    async def renew(self, connection_ids: Collection[str]) -> None:
        ids = list(connection_ids)
        for start in range(0, len(ids), 1000):
            await self._renew(keys=[self.key], args=[self.lease_seconds, *ids[start : start + 1000]])

    async def release(self, *connection_ids: str) -> None:
        if connection_ids:
            await self._client.zrem(self.key, *connection_ids)

    async def count(self) -> int:
        """Live leases now (expired ones are not counted)."""
        now_seconds, now_micros = await self._client.time()
        return int(await self._client.zcount(self.key, f"({now_seconds + now_micros / 1e6}", "+inf"))
