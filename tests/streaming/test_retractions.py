"""The ``retracted`` notice in-process: WebsocketCommunicator, real Redis channel layer, real publisher.

The end-to-end case (a reorg on anvil, the scanners' rollback) is ``tests/scanning/test_reorg_stream.py``;
here: who receives a notice, that it is sent only once the rollback commits, and that it is numbered
with the notifications (no false "missed" notice after it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import transaction

from chains.signals import detections_removed
from streaming.broadcast import broadcast_flush, broadcast_transaction
from streaming.client import Retracted, StreamClient, parse_message
from streaming.protocol import retracted_text
from streaming.retractions import retraction_publish
from streaming.routing import websocket_urlpatterns
from tests.factories import OpportunityFactory
from tests.streaming.helpers import transaction as transaction_payload

pytestmark = pytest.mark.usefixtures("stream")
application = URLRouter(websocket_urlpatterns)
TIMEOUT = 10


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Any]]:
    opened: list[WebsocketCommunicator] = []

    async def make(**subscriptions: dict[str, Any]) -> WebsocketCommunicator:
        client = WebsocketCommunicator(application, "/ws/v1/stream")
        connected, _ = await client.connect(timeout=TIMEOUT)
        assert connected
        opened.append(client)
        assert (await client.receive_json_from(timeout=TIMEOUT))["type"] == "connected"
        for channel, filters in subscriptions.items():
            await client.send_json_to({"type": "subscribe", "channel": channel, "filters": filters})
            assert (await client.receive_json_from(timeout=TIMEOUT))["type"] == "subscribed"
        return client

    yield make
    for client in opened:
        with contextlib.suppress(BaseException):
            await client.disconnect()


async def drain(client: WebsocketCommunicator) -> list[dict[str, Any]]:
    await asyncio.to_thread(broadcast_flush, 10)
    received = []
    while not await client.receive_nothing(timeout=0.5):
        received.append(await client.receive_json_from(timeout=TIMEOUT))
    return received


def test_the_notice_text_has_every_field() -> None:
    text = retracted_text("transactions", 56, 1200, [7, 9], "2026-12-01T22:10:04.512345Z")
    assert json.loads(text) == {
        "type": "retracted",
        "timestamp": "2026-12-01T22:10:04.512345Z",
        "channel": "transactions",
        "chain_id": 56,
        "from_block": 1200,
        "reason": "reorg",
        "ids": [7, 9],
    }


async def test_subscribers_of_the_channel_and_chain_get_it_whatever_their_other_filters(clients: Any) -> None:
    everything = await clients(transactions={})
    chain_56_big = await clients(transactions={"chain_id": 56, "min_profit": 10**6, "min_swaps": 9})
    chain_137 = await clients(transactions={"chain_id": 137})
    other_channel = await clients(opportunities={})
    several = await clients(transactions={"chain_id": 137})
    await several.send_json_to({"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": 2}})
    assert (await several.receive_json_from(timeout=TIMEOUT))["type"] == "subscribed"

    before = transaction_payload(chain_id=56)
    broadcast_transaction(before)
    retraction_publish("transactions", chain_id=56, from_block=1200, ids=[9, 7])
    after = transaction_payload(chain_id=56)
    broadcast_transaction(after)

    got = await drain(everything)
    assert [m["type"] for m in got] == ["transaction", "retracted", "transaction"]  # in order, no gap notice
    assert got[1]["ids"] == [7, 9] and got[1]["chain_id"] == 56 and got[1]["from_block"] == 1200
    assert [m["type"] for m in await drain(chain_56_big)] == ["retracted"]
    assert [m["type"] for m in await drain(several)] == ["transaction", "retracted", "transaction"]
    assert await drain(chain_137) == []
    assert await drain(other_channel) == []


@pytest.mark.django_db(transaction=True)
async def test_it_is_sent_when_the_rollback_commits_and_never_for_one_rolled_back(clients: Any) -> None:
    listener = await clients(opportunities={})
    rows = [await database_sync_to_async(OpportunityFactory)(block_number=n) for n in (30, 31)]

    def remove(*, commit: bool) -> None:
        with contextlib.suppress(RuntimeError), transaction.atomic():
            detections_removed.send(sender=None, kind="opportunities", chain_id=56, rows=rows, from_block=29)
            if not commit:
                raise RuntimeError("the rollback's transaction fails")

    await database_sync_to_async(remove)(commit=False)
    assert await drain(listener) == []
    await database_sync_to_async(remove)(commit=True)
    (notice,) = await drain(listener)
    assert notice["type"] == "retracted" and notice["ids"] == sorted(r.pk for r in rows)
    assert notice["from_block"] == 29


async def test_the_notice_is_numbered_with_the_notifications_and_replayed_on_resume_whatever_the_filters(
    clients: Any,
) -> None:
    live = await clients(transactions={"chain_id": 56})
    broadcast_transaction(transaction_payload(chain_id=56))
    retraction_publish("transactions", chain_id=56, from_block=1300, ids=[11])
    broadcast_transaction(transaction_payload(chain_id=56))
    got = await drain(live)
    assert [m["type"] for m in got] == ["transaction", "retracted", "transaction"]
    first = got[0]["seq"]
    assert [m["seq"] for m in got] == [first, first + 1, first + 2]  # one gap-free sequence
    assert len({m["epoch"] for m in got}) == 1
    epoch = got[0]["epoch"]

    async def resume(filters: dict[str, Any]) -> list[dict[str, Any]]:
        client = await clients()
        since = {"seq": first, "epoch": epoch}
        await client.send_json_to({"type": "subscribe", "channel": "transactions", "filters": filters, "since": since})
        reply = await client.receive_json_from(timeout=TIMEOUT)
        assert reply["type"] == "subscribed" and reply["recovered"] is True and reply["seq"] == first + 2
        return await drain(client)

    # The live rule on replay: the retraction goes to every subscription of its chain, even one
    # whose profit filter matches none of the notifications.
    narrow = await resume({"chain_id": 56, "min_profit": 10**6})
    assert [(m["type"], m["seq"]) for m in narrow] == [("retracted", first + 1)]
    assert narrow[0]["ids"] == [11] and narrow[0]["from_block"] == 1300
    wide = await resume({"chain_id": 56})
    assert [(m["type"], m["seq"]) for m in wide] == [("retracted", first + 1), ("transaction", first + 2)]
    assert wide == got[1:]  # the very texts the live clients got


def test_the_python_client_types_the_notice_and_resumes_after_it() -> None:
    raw = json.loads(retracted_text("opportunities", 137, 900, [3, 4], "2026-12-01T22:10:04.512345Z"))
    raw.update(seq=42, epoch="9f2c41d07a3b")
    message = parse_message(raw)
    assert message == Retracted(
        "opportunities", 137, 900, [3, 4], "2026-12-01T22:10:04.512345Z", "reorg", 42, "9f2c41d07a3b"
    )
    client = StreamClient("ws://127.0.0.1:1/ws/v1/stream")
    client.positions[("opportunities", 137)] = (41, "9f2c41d07a3b")
    client._track(message)
    assert client.positions[("opportunities", 137)] == (42, "9f2c41d07a3b")
    subscribe = client._subscribe_message(0, "opportunities", {"chain_id": 137})
    assert subscribe["since"] == {"seq": 42, "epoch": "9f2c41d07a3b"}
