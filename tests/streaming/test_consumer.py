"""The consumer end to end in-process: WebsocketCommunicator, real Redis channel layer, real publisher."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from opportunities.serializers import opportunity_data
from streaming.broadcast import broadcast_flush, broadcast_opportunity, broadcast_transaction
from streaming.events import group_name, notification_event
from streaming.fanout import get_hub
from streaming.routing import websocket_urlpatterns
from tests.factories import OpportunityFactory
from tests.streaming.helpers import opportunity, transaction

pytestmark = pytest.mark.usefixtures("stream")
application = URLRouter(websocket_urlpatterns)
TIMEOUT = 10


async def open_client() -> tuple[WebsocketCommunicator, dict[str, Any]]:
    client = WebsocketCommunicator(application, "/ws/v1/stream")
    connected, _ = await client.connect(timeout=TIMEOUT)
    assert connected
    return client, await client.receive_json_from(timeout=TIMEOUT)


async def request(client: WebsocketCommunicator, message: Any) -> dict[str, Any]:
    await client.send_to(text_data=message if isinstance(message, str) else json.dumps(message))
    return await client.receive_json_from(timeout=TIMEOUT)


async def subscribe(client: WebsocketCommunicator, channel: str, **filters: Any) -> dict[str, Any]:
    reply = await request(client, {"type": "subscribe", "channel": channel, "filters": filters})
    assert reply["type"] == "subscribed", reply
    return reply


async def receive_notifications(client: WebsocketCommunicator) -> list[dict[str, Any]]:
    """Everything that arrives until the stream is quiet (pings mark the end: broadcasts flushed first)."""
    await asyncio.to_thread(broadcast_flush, 10)
    received = []
    # receive_nothing, not a receive timeout: a timeout cancels the application.
    while not await client.receive_nothing(timeout=0.5):
        received.append(await client.receive_json_from(timeout=TIMEOUT))
    return received


async def test_welcome_has_a_unique_connection_id_and_the_spec_text(clients: Any) -> None:
    first, welcome1 = await open_client()
    second, welcome2 = await open_client()
    assert welcome1["type"] == "connected"
    assert welcome1["message"] == "Connected to Multi-Chain Arbitrage Monitor WebSocket"
    assert welcome1["connection_id"].startswith("ws_")
    assert welcome1["connection_id"] != welcome2["connection_id"]
    await first.disconnect()
    await second.disconnect()


async def test_ping_gets_a_pong_with_a_utc_timestamp(clients: Any) -> None:
    client = await clients()
    pong = await request(client, {"type": "ping"})
    assert pong["type"] == "pong" and pong["timestamp"].endswith("Z")
    assert set(pong) == {"type", "timestamp"}


async def test_heartbeats_come_every_interval(stream: Any, clients: Any) -> None:
    stream.WS_HEARTBEAT_SECONDS = 0.3
    client = await clients()
    for _ in range(2):
        heartbeat = await client.receive_json_from(timeout=TIMEOUT)
        assert heartbeat["type"] == "heartbeat" and heartbeat["timestamp"].endswith("Z")


async def test_subscribe_echoes_filters_and_notifications_match_the_spec(clients: Any) -> None:
    client = await clients()
    reply = await subscribe(client, "opportunities", chain_id=56, min_profit=1000)
    assert reply == {
        "type": "subscribed",
        "channel": "opportunities",
        "filters": {"chain_id": 56, "min_profit": 1000.0},
    }
    stored = await database_sync_to_async(OpportunityFactory)()
    data = await database_sync_to_async(opportunity_data)(stored)
    broadcast_opportunity(data)
    received = await receive_notifications(client)
    assert len(received) == 1
    # The seed's fields as they were, plus the resume position (docs/protocol.md "Resuming").
    assert set(received[0]) == {"type", "timestamp", "data", "seq", "epoch"}
    assert received[0]["type"] == "opportunity" and received[0]["timestamp"].endswith("Z")
    assert received[0]["data"] == data
    assert received[0]["data"]["id"] == stored.pk


async def test_opportunity_filters_chain_and_profit_range(clients: Any) -> None:
    bsc_band, polygon, everything = await clients(), await clients(), await clients()
    await subscribe(bsc_band, "opportunities", chain_id=56, min_profit=100, max_profit=1000)
    await subscribe(polygon, "opportunities", chain_id=137)
    await subscribe(everything, "opportunities")
    events = [
        opportunity(chain_id=56, profit_usd=100.0, pool_name="a"),
        opportunity(chain_id=56, profit_usd=1000.0, pool_name="b"),
        opportunity(chain_id=56, profit_usd=1000.01, pool_name="c"),
        opportunity(chain_id=56, profit_usd=99.99, pool_name="d"),
        opportunity(chain_id=137, profit_usd=500.0, pool_name="e"),
    ]
    for event in events:
        broadcast_opportunity(event)
    assert [m["data"]["pool_name"] for m in await receive_notifications(bsc_band)] == ["a", "b"]
    assert [m["data"]["pool_name"] for m in await receive_notifications(polygon)] == ["e"]
    assert [m["data"]["pool_name"] for m in await receive_notifications(everything)] == list("abcde")


async def test_transaction_filters_profit_net_and_swap_count(clients: Any) -> None:
    client = await clients()
    await subscribe(client, "transactions", min_swaps=3, min_profit=10)
    broadcast_transaction(transaction(swap_count=3, profit_net_usd=10.0, tx_hash="0x01"))
    broadcast_transaction(transaction(swap_count=2, profit_net_usd=500.0, tx_hash="0x02"))
    broadcast_transaction(transaction(swap_count=4, profit_net_usd=9.5, tx_hash="0x03"))
    broadcast_transaction(transaction(chain_id=137, swap_count=5, profit_net_usd=11.0, tx_hash="0x04"))
    broadcast_opportunity(opportunity())  # another channel: not subscribed
    received = await receive_notifications(client)
    assert [(m["type"], m["data"]["tx_hash"]) for m in received] == [("transaction", "0x01"), ("transaction", "0x04")]


async def test_several_matching_subscriptions_deliver_once(clients: Any) -> None:
    client = await clients()
    await subscribe(client, "opportunities", chain_id=56)
    await subscribe(client, "opportunities", min_profit=10)
    await subscribe(client, "opportunities", max_profit=1e9)
    broadcast_opportunity(opportunity(chain_id=56, profit_usd=50.0, pool_name="x"))
    broadcast_opportunity(opportunity(chain_id=137, profit_usd=5.0, pool_name="y"))
    received = await receive_notifications(client)
    assert [m["data"]["pool_name"] for m in received] == ["x", "y"]


async def test_unsubscribe_stops_notifications(clients: Any) -> None:
    client = await clients()
    await subscribe(client, "opportunities")
    await subscribe(client, "transactions")
    assert await request(client, {"type": "unsubscribe", "channel": "opportunities"}) == {
        "type": "unsubscribed",
        "channel": "opportunities",
    }
    broadcast_opportunity(opportunity())
    broadcast_transaction(transaction(tx_hash="0xaa"))
    assert [m["type"] for m in await receive_notifications(client)] == ["transaction"]


BAD_INPUTS = [
    ("not json", "Invalid JSON"),
    ("[1,2,3]", "expected a JSON object"),
    ({"channel": "opportunities"}, "Missing message type"),
    ({"type": "dance"}, "Unknown message type: dance"),
    (
        {"type": "subscribe", "channel": "invalid_channel"},
        "Invalid channel: invalid_channel. Must be 'opportunities' or 'transactions'",
    ),
    ({"type": "subscribe", "channel": "opportunities", "filters": "all"}, "filters: must be a JSON object"),
    ({"type": "subscribe", "channel": "opportunities", "filters": {"foo": 1}}, "Unknown filter: foo"),
    ({"type": "subscribe", "channel": "opportunities", "filters": {"min_swaps": 3}}, "transactions' channel only"),
    ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": "56"}}, "chain_id must be"),
    ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": True}}, "chain_id must be"),
    ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": None}}, "chain_id must be"),
    ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56.0}}, "chain_id must be"),
    ({"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": 2.0}}, "min_swaps must be"),
    ({"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": "2"}}, "min_swaps must be"),
    ({"type": "subscribe", "channel": "opportunities", "filters": {"min_profit": False}}, "min_profit must be"),
    ('{"type":"subscribe","channel":"opportunities","filters":{"min_profit":NaN}}', "NaN is not allowed"),
    ('{"type":"subscribe","channel":"opportunities","filters":{"max_profit":-Infinity}}', "Infinity is not"),
    ({"type": "subscribe", "channel": "opportunities", "filters": {"min_profit": -5}}, "min_profit must be"),
    ({"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": -1}}, "min_swaps must be"),
    (
        {"type": "subscribe", "channel": "opportunities", "filters": {"min_profit": 9, "max_profit": 1}},
        "min_profit must not be greater than max_profit",
    ),
    ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 1}}, "not a configured chain"),
    ({"type": "unsubscribe", "channel": "opportunities"}, "Not subscribed to channel: opportunities"),
]


@pytest.mark.parametrize(("message", "error"), BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
async def test_bad_input_gets_an_error_and_changes_nothing(clients: Any, message: Any, error: str) -> None:
    client = await clients()
    reply = await request(client, message)
    assert reply["type"] == "error" and error in reply["message"], reply
    assert set(reply) == {"type", "message"}
    # Still usable, and no subscription appeared.
    assert (await request(client, {"type": "ping"}))["type"] == "pong"
    assert [c.subscription_count for c in get_hub().connections.values()] == [0]
    assert await client.receive_nothing(timeout=0.2)


async def test_after_bad_input_a_broadcast_reaches_nobody(stream: Any, clients: Any) -> None:
    stream.WS_RATE_LIMIT_PER_SECOND = 1000.0
    client = await clients()
    for message, _ in BAD_INPUTS:
        assert (await request(client, message))["type"] == "error"
    broadcast_opportunity(opportunity())
    broadcast_transaction(transaction())
    assert await receive_notifications(client) == []


async def test_subscription_cap_per_connection(stream: Any, clients: Any) -> None:
    stream.WS_MAX_SUBSCRIPTIONS = 3
    client = await clients()
    for n in range(3):
        await subscribe(client, "opportunities", min_profit=n)
    await subscribe(client, "opportunities", min_profit=0)  # the same subscription again is not a new one
    reply = await request(client, {"type": "subscribe", "channel": "transactions"})
    assert reply["type"] == "error" and "Too many subscriptions: at most 3" in reply["message"]
    broadcast_transaction(transaction())
    assert await receive_notifications(client) == []


async def test_binary_frame_is_refused_and_the_connection_stays_usable(clients: Any) -> None:
    client = await clients()
    await client.send_to(bytes_data=b'{"type": "ping"}')
    reply = await client.receive_json_from(timeout=TIMEOUT)
    assert reply["type"] == "error" and "Binary frames are not supported" in reply["message"]
    assert (await request(client, {"type": "ping"}))["type"] == "pong"


async def test_frame_over_the_size_limit_closes_1009(clients: Any) -> None:
    client = await clients()
    await client.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 65536}))
    reply = await client.receive_json_from(timeout=TIMEOUT)
    assert reply["type"] == "error" and "Message too big" in reply["message"]
    close = await client.receive_output(timeout=TIMEOUT)
    assert close["type"] == "websocket.close" and close["code"] == 1009


async def test_a_frame_just_under_the_limit_is_fine(clients: Any) -> None:
    client = await clients()
    message = json.dumps({"type": "ping", "pad": ""})
    message = message.replace('""', '"' + "x" * (65536 - len(message)) + '"')
    assert len(message.encode()) == 65536
    reply = await request(client, message)
    assert reply["type"] == "pong"


async def test_message_flood_is_answered_then_closed_1008(stream: Any, clients: Any) -> None:
    stream.WS_RATE_LIMIT_PER_SECOND = 5.0
    client = await clients()
    for _ in range(30):
        await client.send_to(text_data='{"type": "ping"}')
    replies = []
    while True:
        output = await client.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            break
        replies.append(json.loads(output["text"]))
    assert output["code"] == 1008
    assert [r["type"] for r in replies[:5]] == ["pong"] * 5
    errors = [r["message"] for r in replies if r["type"] == "error"]
    assert errors[0].startswith("Rate limit exceeded: at most 5 messages per second")
    assert "closing" in errors[-1]


async def test_capacity_closes_1008_server_at_capacity_and_frees_on_disconnect(stream: Any) -> None:
    stream.WS_MAX_CONNECTIONS = 2
    first, _ = await open_client()
    second, _ = await open_client()
    rejected, reply = await open_client()
    assert reply == {"type": "error", "message": "Server at capacity"}
    close = await rejected.receive_output(timeout=TIMEOUT)
    assert close == {"type": "websocket.close", "code": 1008, "reason": "Server at capacity"}
    await rejected.disconnect()
    assert await get_hub().leases.count() == 2
    await first.disconnect()
    third, welcome = await open_client()
    assert welcome["type"] == "connected"
    for client in (second, third):
        await client.disconnect()
    assert await get_hub().leases.count() == 0


async def test_a_profit_with_a_thousand_digits_gets_an_error_and_the_connection_lives_on(clients: Any) -> None:
    client = await clients()
    frame = '{"type":"subscribe","channel":"opportunities","filters":{"min_profit":1' + "0" * 1000 + "}}"
    reply = await request(client, frame)
    assert reply["type"] == "error" and reply["message"].startswith("Invalid filter: min_profit must be"), reply
    assert (await request(client, {"type": "ping"}))["type"] == "pong"
    assert await get_hub().leases.count() == 1


async def test_an_unexpected_error_in_a_handler_gets_a_reply_and_leaks_no_lease(
    clients: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await clients()
    hub = get_hub()

    def broken(text: str, **kwargs: Any) -> Any:
        raise RuntimeError("injected fault")

    with monkeypatch.context() as patch:
        patch.setattr("streaming.protocol.parse_client_message", broken)
        reply = await request(client, {"type": "ping"})
    assert reply == {"type": "error", "message": "Internal server error: the message was not applied"}
    assert (await request(client, {"type": "ping"}))["type"] == "pong"
    await client.disconnect()
    assert await hub.leases.count() == 0


async def test_an_event_after_a_silence_longer_than_the_blocking_read_comes_without_an_error_or_backoff(
    clients: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # channels-redis blocks 5 s per read; redis-py's socket timeout must not fire on that.
    client = await clients()
    await subscribe(client, "opportunities")
    hub = get_hub()
    with caplog.at_level(logging.WARNING, logger="streaming"):
        await asyncio.sleep(6.5)  # the fault: one whole blocking read with nothing to read
        broadcast_opportunity(opportunity(pool_name="after-the-silence"))
        received = await receive_notifications(client)
    assert [m["data"]["pool_name"] for m in received] == ["after-the-silence"]
    warned = [r.getMessage() for r in caplog.records if r.name.startswith("streaming") and r.levelno >= logging.WARNING]
    assert warned == []
    assert hub.stats["outages"] == 0


async def test_events_lost_on_the_way_are_counted_for_the_client(clients: Any) -> None:
    client = await clients()
    await subscribe(client, "opportunities")
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    try:
        for seq in (1, 4):  # the fault: events 2 and 3 of this publisher never arrive
            event = notification_event("opportunities", opportunity(pool_name=f"seq{seq}"), timestamp="t")
            event.update(publisher="test-publisher", publisher_seq=seq)
            await layer.group_send(group_name("opportunities", 56), event)
        received = [await client.receive_json_from(timeout=TIMEOUT) for _ in range(3)]
    finally:
        await layer.close_pools()
    assert received[0]["data"]["pool_name"] == "seq1"
    assert received[1] == {
        "type": "error",
        "message": "2 opportunities notification(s) were missed on the way "
        "(the server's channel layer was over capacity)",
    }
    assert received[2]["data"]["pool_name"] == "seq4"


async def test_a_second_copy_of_an_event_is_not_delivered_again(clients: Any) -> None:
    """A publisher that retries a send whose first attempt reached Redis after all: one delivery."""
    client = await clients()
    await subscribe(client, "opportunities")
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    try:
        for seq, name in ((1, "first"), (2, "second"), (2, "second"), (3, "third")):
            event = notification_event("opportunities", opportunity(pool_name=name), timestamp="t")
            event.update(publisher="retrying-publisher", publisher_seq=seq)
            await layer.group_send(group_name("opportunities", 56), event)
        received = await receive_notifications(client)
    finally:
        await layer.close_pools()
    assert [m["data"]["pool_name"] for m in received] == ["first", "second", "third"]  # no gap notice either
