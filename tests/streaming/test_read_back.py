"""Notifications lost on the way to a web process are read back from the history (in-process, real Redis).

The fault: the channel layer drops events for a web process whose loop is too busy to read them
(over ``capacity``, or older than ``expiry``), after the publisher numbered and kept them. A later
event of the group shows the gap; with no later event, the maintenance round finds it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.conf import settings

from streaming import history
from streaming.events import group_name, notification_event
from streaming.fanout import get_hub
from tests.streaming.helpers import opportunity
from tests.streaming.test_consumer import receive_notifications, subscribe

pytestmark = pytest.mark.usefixtures("stream")
GROUP = group_name("opportunities", 56)


class Publisher:
    """Numbers events in the history as the real publisher does; sends only those it is told to."""

    def __init__(self) -> None:
        self.redis = aioredis.Redis.from_url(settings.REDIS_URL)
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.count = 0

    async def number(self, name: str) -> dict[str, Any]:
        event = notification_event("opportunities", opportunity(pool_name=name), timestamp="t")
        event["seq"], event["epoch"], event["text"] = await history.append(
            self.redis, GROUP, event["text"], event["profit"], event["swap_count"]
        )
        self.count += 1
        event.update(publisher="test-publisher", publisher_seq=self.count)
        return event

    async def send(self, event: dict[str, Any]) -> None:
        await self.layer.group_send(GROUP, event)

    async def close(self) -> None:
        await self.layer.close_pools()
        await self.redis.aclose()


@pytest.fixture
async def publisher() -> AsyncIterator[Publisher]:
    made = Publisher()
    yield made
    await made.close()


def names(received: list[dict[str, Any]]) -> list[Any]:
    return [(m["seq"], m["data"]["pool_name"]) if m["type"] == "opportunity" else m for m in received]


async def test_a_gap_is_filled_from_the_history_in_order_without_a_missed_notice(clients, publisher) -> None:
    client = await clients()
    await subscribe(client, "opportunities", chain_id=56)
    events = [await publisher.number(name) for name in "abcde"]
    for event in (events[0], events[1], events[4]):  # c and d are lost on the way
        await publisher.send(event)
    assert names(await receive_notifications(client)) == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
    # Their live copies arriving late are second copies: not delivered again.
    await publisher.send(events[2])
    assert await receive_notifications(client) == []
    assert get_hub().stats["read_back"] == 2


async def test_the_last_notifications_lost_are_found_by_the_maintenance_round(clients, publisher) -> None:
    client = await clients()
    await subscribe(client, "opportunities")
    first = await publisher.number("a")
    await publisher.send(first)
    assert names(await receive_notifications(client)) == [(1, "a")]
    for name in "bc":  # numbered, never sent: no later event shows the gap
        await publisher.number(name)
    await get_hub().catch_up()
    assert names(await receive_notifications(client)) == [(2, "b"), (3, "c")]


async def test_what_the_history_no_longer_holds_is_told_as_missed(clients, publisher, stream) -> None:
    stream.WS_HISTORY_SIZE = 2  # the history keeps only the last two
    client = await clients()
    await subscribe(client, "opportunities")
    events = [await publisher.number(name) for name in "abcde"]
    await publisher.send(events[0])
    await publisher.send(events[4])  # b, c lost and trimmed away; d lost but still kept
    assert names(await receive_notifications(client)) == [
        (1, "a"),
        {"type": "error", "message": "2 opportunities notification(s) were missed on the way "
         "(the server's channel layer was over capacity)"},
        (4, "d"),
        (5, "e"),
    ]  # fmt: skip
