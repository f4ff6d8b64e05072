"""Sequence numbers, epochs and resuming from the bounded history (in-process, real Redis)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from streaming import history
from streaming.broadcast import broadcast_opportunity, broadcast_transaction
from tests.streaming.helpers import opportunity, transaction
from tests.streaming.test_consumer import receive_notifications, subscribe

pytestmark = pytest.mark.usefixtures("stream")


async def test_notifications_are_numbered_gap_free_per_chain_and_channel_under_one_epoch(clients) -> None:
    client = await clients()
    await subscribe(client, "opportunities")
    await subscribe(client, "transactions")
    for chain_id in (56, 137, 56):
        broadcast_opportunity(opportunity(chain_id=chain_id))
    broadcast_transaction(transaction(chain_id=56))
    broadcast_opportunity(opportunity(chain_id=56))
    received = await receive_notifications(client)
    numbered = [(m["type"], m["data"]["chain_id"], m["seq"]) for m in received]
    assert numbered == [
        ("opportunity", 56, 1),
        ("opportunity", 137, 1),
        ("opportunity", 56, 2),
        ("transaction", 56, 1),
        ("opportunity", 56, 3),
    ]
    epochs = {(m["type"], m["data"]["chain_id"]): m["epoch"] for m in received}
    assert len({m["epoch"] for m in received if m["type"] == "opportunity" and m["data"]["chain_id"] == 56}) == 1
    assert all(isinstance(epoch, str) and epoch for epoch in epochs.values())


async def test_a_lost_counter_starts_a_new_epoch_at_seq_1(clients) -> None:
    client = await clients()
    await subscribe(client, "opportunities", chain_id=56)
    broadcast_opportunity(opportunity())
    broadcast_opportunity(opportunity())
    before = await receive_notifications(client)
    redis = aioredis.Redis.from_url(settings.REDIS_URL)
    try:  # the fault: the counter is gone (as after a Redis restart without persistence)
        await redis.delete(history.counter_key("opportunities.56"))
    finally:
        await redis.aclose()
    broadcast_opportunity(opportunity())
    after = await receive_notifications(client)
    assert [m["seq"] for m in before] == [1, 2]
    assert [m["seq"] for m in after] == [1]
    assert after[0]["epoch"] != before[0]["epoch"]


def entry(seq: int) -> history.Entry:
    return history.Entry(seq, "{}", 1.0, None)


@pytest.mark.parametrize(
    ("seq", "epoch", "latest", "latest_epoch", "entries", "recovered", "replayed"),
    [
        (3, "e", 5, "e", [entry(4), entry(5)], True, [4, 5]),
        (5, "e", 5, "e", [], True, []),
        (2, "e", 5, "e", [entry(4), entry(5)], False, []),  # 3 was trimmed away
        (3, "old", 5, "e", [entry(4), entry(5)], False, []),  # another epoch
        (9, "e", 5, "e", [], False, []),  # ahead of the server: not this history
        (0, "", 0, "", [], True, []),  # nothing published yet
    ],
)
def test_decide_since(seq, epoch, latest, latest_epoch, entries, recovered, replayed) -> None:
    outcome = history.decide_since(seq, epoch, latest, latest_epoch, entries)
    assert outcome.recovered is recovered
    assert [e.seq for e in outcome.entries] == replayed
    assert (outcome.seq, outcome.epoch) == (latest, latest_epoch)
