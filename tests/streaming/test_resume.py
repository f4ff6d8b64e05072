"""Sequence numbers, epochs and resuming from the bounded history (in-process, real Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from streaming import history
from streaming.broadcast import broadcast_flush, broadcast_opportunity, broadcast_transaction
from streaming.fanout import history_reset_notice
from tests.streaming.helpers import opportunity, transaction
from tests.streaming.test_consumer import receive_notifications, request, subscribe

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
    notice, *after = await receive_notifications(client)
    assert [m["seq"] for m in before] == [1, 2]
    assert [m["seq"] for m in after] == [1]
    assert after[0]["epoch"] != before[0]["epoch"]
    # The client is told, right before the first notification of the new epoch.
    assert notice == {"type": "error", "message": history_reset_notice("opportunities", 56, after[0]["epoch"])}


async def test_a_history_reset_is_told_only_to_subscribers_that_can_match_that_chain(clients) -> None:
    on_56, on_137, on_all, on_transactions = [await clients() for _ in range(4)]
    await subscribe(on_56, "opportunities", chain_id=56)
    await subscribe(on_137, "opportunities", chain_id=137)
    await subscribe(on_all, "opportunities")
    await subscribe(on_transactions, "transactions", chain_id=56)
    broadcast_opportunity(opportunity(chain_id=56))
    for client in (on_56, on_all):
        assert [m["seq"] for m in await receive_notifications(client)] == [1]
    redis = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        await redis.delete(history.counter_key("opportunities.56"))
    finally:
        await redis.aclose()
    broadcast_opportunity(opportunity(chain_id=56))
    for client in (on_56, on_all):
        notice, notification = await receive_notifications(client)
        assert notice["type"] == "error" and notice["message"].startswith("The opportunities history of chain 56")
        assert notification["seq"] == 1
    for client in (on_137, on_transactions):
        assert await receive_notifications(client) == []


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
        (0, "", 2, "e", [entry(1), entry(2)], True, [1, 2]),  # a position taken before the first publish
    ],
)
def test_decide_since(seq, epoch, latest, latest_epoch, entries, recovered, replayed) -> None:
    outcome = history.decide_since(seq, epoch, latest, latest_epoch, entries)
    assert outcome.recovered is recovered
    assert [e.seq for e in outcome.entries] == replayed
    assert (outcome.seq, outcome.epoch) == (latest, latest_epoch)


async def since_reply(client: Any, since: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56}}
    if since is not None:
        message["since"] = since
    message.update(extra)
    return await request(client, message)


async def test_resume_with_since_gets_exactly_the_missed_notifications_then_live_ones(clients: Any) -> None:
    first = await clients()
    await subscribe(first, "opportunities", chain_id=56)
    for n in range(3):
        broadcast_opportunity(opportunity(pool_name=f"seen{n}"))
    seen = await receive_notifications(first)
    await first.disconnect()  # the client goes away; events are published meanwhile
    for n in range(2):
        broadcast_opportunity(opportunity(pool_name=f"missed{n}"))
    broadcast_opportunity(opportunity(chain_id=137, pool_name="other-chain"))
    assert await asyncio.to_thread(broadcast_flush, 10)

    again = await clients()
    reply = await since_reply(again, {"seq": seen[-1]["seq"], "epoch": seen[-1]["epoch"]})
    assert reply == {
        "type": "subscribed",
        "channel": "opportunities",
        "filters": {"chain_id": 56},
        "recovered": True,
        "seq": 5,
        "epoch": seen[-1]["epoch"],
    }
    broadcast_opportunity(opportunity(pool_name="live"))
    after = await receive_notifications(again)
    assert [(m["seq"], m["data"]["pool_name"]) for m in after] == [(4, "missed0"), (5, "missed1"), (6, "live")]


async def test_replay_and_filters_apply_to_the_history(clients: Any) -> None:
    for profit in (10.0, 5000.0, 20.0, 6000.0):
        broadcast_opportunity(opportunity(profit_usd=profit))
    assert await asyncio.to_thread(broadcast_flush, 10)
    client = await clients()
    reply = await request(
        client,
        {"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56, "min_profit": 1000}, "replay": 3},
    )
    assert (reply["recovered"], reply["seq"]) == (True, 4)
    replayed = await receive_notifications(client)
    assert [(m["seq"], m["data"]["profit_usd"]) for m in replayed] == [(2, 5000.0), (4, 6000.0)]  # 2..4, filtered


async def test_a_position_the_history_no_longer_holds_is_not_recovered(stream: Any, clients: Any) -> None:
    stream.WS_HISTORY_SIZE = 2
    for _ in range(5):
        broadcast_opportunity(opportunity())
    assert await asyncio.to_thread(broadcast_flush, 10)
    client = await clients()
    first = await since_reply(client, {"seq": 3, "epoch": "not-this-history"})
    assert (first["recovered"], first["seq"]) == (False, 5)
    trimmed = await since_reply(client, {"seq": 1, "epoch": first["epoch"]})  # 2 was trimmed away
    assert (trimmed["recovered"], trimmed["seq"]) == (False, 5)
    kept = await since_reply(client, {"seq": 3, "epoch": first["epoch"]})
    assert kept["recovered"] is True
    assert [m["seq"] for m in await receive_notifications(client)] == [4, 5]


async def test_no_gap_and_no_duplicate_at_the_seam_while_events_flow(clients: Any) -> None:
    client = await clients()
    await subscribe(client, "opportunities", chain_id=56)
    broadcast_opportunity(opportunity())
    (first,) = await receive_notifications(client)
    await client.disconnect()

    async def publish() -> None:
        for _ in range(60):
            broadcast_opportunity(opportunity())
            await asyncio.sleep(0.005)

    flowing = asyncio.create_task(publish())
    await asyncio.sleep(0.1)
    again = await clients()
    reply = await since_reply(again, {"seq": first["seq"], "epoch": first["epoch"]})
    await flowing
    received = await receive_notifications(again)
    assert reply["recovered"] is True
    assert [m["seq"] for m in received] == list(range(2, 62)), (reply, [(m["seq"], m["data"]["id"]) for m in received])


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"since": {"seq": 1, "epoch": "e"}, "filters": {}}, "Invalid subscribe: 'since' and 'replay' need a chain_id"),
        ({"since": {"seq": 1, "epoch": "e"}, "replay": 2}, "Invalid subscribe: give 'since' or 'replay', not both"),
        ({"since": {"seq": -1, "epoch": "e"}}, "Invalid since: seq must be a non-negative integer"),
        ({"since": {"seq": 1}}, "Invalid since: epoch must be a string"),
        ({"since": [1, "e"]}, "Invalid since: must be an object"),
        ({"replay": -1}, "Invalid replay: must be an integer >= 0"),
    ],
)
async def test_invalid_resume_requests_get_an_error_and_change_nothing(
    clients: Any, extra: dict[str, Any], error: str
) -> None:
    client = await clients()
    message = {"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56}, **extra}
    reply = await request(client, message)
    assert reply["type"] == "error" and reply["message"].startswith(error), reply
    broadcast_opportunity(opportunity())
    assert await receive_notifications(client) == []


async def test_a_request_id_is_echoed_in_the_reply_to_that_request(clients: Any) -> None:
    client = await clients()
    pong = await request(client, {"type": "ping", "id": 7})
    assert pong["type"] == "pong" and pong["id"] == 7
    subscribed = await request(client, {"type": "subscribe", "channel": "transactions", "id": "sub-1"})
    assert subscribed == {"type": "subscribed", "channel": "transactions", "filters": {}, "id": "sub-1"}
    error = await request(client, {"type": "subscribe", "channel": "nope", "id": "bad-1"})
    assert error["type"] == "error" and error["id"] == "bad-1" and error["message"].startswith("Invalid channel")
    assert (await request(client, {"type": "unsubscribe", "channel": "transactions", "id": 0}))["id"] == 0
    invalid = await request(client, {"type": "ping", "id": {"no": "objects"}})
    assert invalid["type"] == "error" and "id" not in invalid and invalid["message"].startswith("Invalid id")
    assert set(await request(client, {"type": "ping"})) == {"type", "timestamp"}  # no id: the seed's reply


async def test_list_subscriptions_lists_every_subscription(clients: Any) -> None:
    client = await clients()
    assert await request(client, {"type": "list_subscriptions"}) == {"type": "subscriptions", "subscriptions": []}
    await subscribe(client, "opportunities", chain_id=56, min_profit=10)
    await subscribe(client, "transactions", min_swaps=3)
    await subscribe(client, "opportunities", chain_id=137)
    listed = await request(client, {"type": "list_subscriptions", "id": "l"})
    assert listed == {
        "type": "subscriptions",
        "subscriptions": [
            {"channel": "opportunities", "filters": {"chain_id": 56, "min_profit": 10.0}},
            {"channel": "opportunities", "filters": {"chain_id": 137}},
            {"channel": "transactions", "filters": {"min_swaps": 3}},
        ],
        "id": "l",
    }
