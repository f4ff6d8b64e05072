"""A burst of leases and resumes costs a few Redis calls, not one per connection (real Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from streaming import history
from streaming.coalesce import Coalescer
from streaming.leases import ConnectionLeases


class Recorder:
    """A batch call that records each batch it was given."""

    def __init__(self, fail: Exception | None = None, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.fail, self.delay = fail, delay

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return [item * 10 for item in items]


async def test_requests_made_together_go_in_one_call_and_each_gets_its_own_result() -> None:
    run = Recorder()
    coalescer: Coalescer[int, int] = Coalescer(run)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(100)))
    assert results == [i * 10 for i in range(100)]
    assert run.batches == [list(range(100))]


async def test_requests_made_while_a_call_is_on_its_way_go_in_the_next_one_and_batches_are_capped() -> None:
    run = Recorder(delay=0.05)
    coalescer: Coalescer[int, int] = Coalescer(run, max_batch=30)
    first = asyncio.ensure_future(coalescer.submit(0))
    await asyncio.sleep(0.01)  # the first call is in flight
    rest = await asyncio.gather(*(coalescer.submit(i) for i in range(1, 71)))
    assert await first == 0 and rest == [i * 10 for i in range(1, 71)]
    assert [len(batch) for batch in run.batches] == [1, 30, 30, 10]


async def test_a_failed_call_fails_every_request_of_its_batch_and_the_next_burst_is_tried_again() -> None:
    run = Recorder(fail=ConnectionError("redis gone"))
    coalescer: Coalescer[int, int] = Coalescer(run)
    outcomes = await asyncio.gather(*(coalescer.submit(i) for i in range(3)), return_exceptions=True)
    assert [type(o) for o in outcomes] == [ConnectionError] * 3
    run.fail = None
    assert await coalescer.submit(7) == 70


async def test_a_request_cancelled_before_its_call_is_left_out_and_one_cancelled_in_flight_is_handed_back() -> None:
    run = Recorder(delay=0.05)
    abandoned: list[tuple[int, int]] = []
    coalescer: Coalescer[int, int] = Coalescer(run, abandoned=lambda item, result: abandoned.append((item, result)))
    in_flight = asyncio.ensure_future(coalescer.submit(1))
    await asyncio.sleep(0.01)
    waiting = asyncio.ensure_future(coalescer.submit(2))
    kept = asyncio.ensure_future(coalescer.submit(3))
    await asyncio.sleep(0)
    waiting.cancel()  # still waiting for the first call to come back: never sent
    in_flight.cancel()  # its call is on its way: the result goes to ``abandoned``
    assert await kept == 30
    assert run.batches == [[1], [3]]
    assert abandoned == [(1, 10)]


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    yield client
    await client.aclose()


async def test_a_thousand_leases_asked_at_once_are_one_redis_call_and_the_limit_holds(redis: aioredis.Redis) -> None:
    leases = ConnectionLeases(redis, key=f"test:leases:{uuid.uuid4().hex}", limit=600, lease_seconds=30)
    try:
        granted = await asyncio.gather(*(leases.acquire(f"c{i}") for i in range(1000)))
        assert granted == [True] * 600 + [False] * 400  # in the order asked
        assert await leases.count() == 600
        assert leases._acquiring.batches == 1
        await leases.release(*(f"c{i}" for i in range(600)))
        assert await leases.count() == 0
        assert leases._releasing.batches == 1
    finally:
        await redis.delete(leases.key)


async def test_a_lease_granted_to_a_caller_that_went_away_is_given_back(redis: aioredis.Redis) -> None:
    leases = ConnectionLeases(redis, key=f"test:leases:{uuid.uuid4().hex}", limit=10, lease_seconds=30)
    try:
        await leases.acquire("warm")  # the script is loaded; the next call's reply is what we race
        asked = asyncio.ensure_future(leases.acquire("gone"))
        await asyncio.sleep(0)  # its call is sent
        await asyncio.sleep(0)
        asked.cancel()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if await redis.zscore(leases.key, "gone") is None and not leases._background:
                break
        assert leases._acquiring.batches == 2  # "gone" was sent (granted, then given back), not left out
        assert await redis.zscore(leases.key, "gone") is None
        assert await leases.count() == 1
    finally:
        await redis.delete(leases.key)


async def test_resumes_of_several_groups_and_positions_read_in_one_call_equal_one_read_each(
    redis: aioredis.Redis, stream: object
) -> None:
    groups = [f"opportunities.{uuid.uuid4().hex[:6]}", f"transactions.{uuid.uuid4().hex[:6]}"]
    for group in groups:
        for i in range(1, 9):
            await history.append(redis, group, '{"type": "opportunity"}', float(i), i % 3)
    epoch = (await history.read_many(redis, [history.Read(groups[0], last=1)]))[0].epoch
    reads = [
        history.Read(groups[0], since=(5, epoch)),
        history.Read(groups[0], since=(2, epoch)),
        history.Read(groups[0], since=(8, epoch)),
        history.Read(groups[0], since=(3, "another-epoch")),
        history.Read(groups[0], last=3),
        history.Read(groups[1], last=20),
        history.Read(groups[1], since=(0, "")),
    ]
    together = await history.read_many(redis, reads)
    alone = [(await history.read_many(redis, [read]))[0] for read in reads]
    assert together == alone
    assert [[e.seq for e in found.entries] for found in together] == [
        [6, 7, 8], [3, 4, 5, 6, 7, 8], [], [], [6, 7, 8], list(range(1, 9)), list(range(1, 9)),
    ]  # fmt: skip  # (0, ""): a position taken before the first publish recovers the whole epoch
    assert [found.recovered for found in together] == [True, True, True, False, True, True, True]
