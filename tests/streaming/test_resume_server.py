"""Resuming against real web processes: a client reconnects with ``since``, across a server restart."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from streaming.client import (
    Connected,
    Error,
    Message,
    Notification,
    StreamClient,
    Subscribed,
    backoff_delay,
    should_reconnect,
)
from tests.streaming import servers
from tests.streaming.helpers import ClientRecorder, opportunity
from tests.streaming.test_integration import collect, open_client, request

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_client_resumes_with_since_across_a_web_process_restart(launch: Any, database_url: str) -> None:
    env = {"WS_LEASE_KEY": f"test:ws:{uuid.uuid4().hex}", "WS_HISTORY_KEY": f"test:ws:history:{uuid.uuid4().hex}"}
    token = uuid.uuid4().hex[:10]
    server = launch("uvicorn", **env)
    ws = await open_client(server)
    await request(ws, {"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56}})
    await asyncio.to_thread(
        servers.publish, database_url, [("opportunity", opportunity(pool_name=f"{token}-{n}")) for n in range(3)], **env
    )
    seen = await collect(ws, token, 3)
    assert [m["seq"] for m in seen] == [1, 2, 3]
    await ws.close()
    server.stop()  # the fault: the web process goes away; events are published meanwhile
    missed = [("opportunity", opportunity(pool_name=f"{token}-{n}")) for n in range(3, 5)]
    await asyncio.to_thread(servers.publish, database_url, missed, **env)

    restarted = launch("uvicorn", **env)
    ws = await open_client(restarted)
    reply = await request(
        ws,
        {
            "type": "subscribe",
            "channel": "opportunities",
            "filters": {"chain_id": 56},
            "since": {"seq": seen[-1]["seq"], "epoch": seen[-1]["epoch"]},
        },
    )
    assert (reply["type"], reply["recovered"], reply["seq"], reply["epoch"]) == (
        "subscribed",
        True,
        5,
        seen[-1]["epoch"],
    )
    live = [("opportunity", opportunity(pool_name=f"{token}-5"))]
    await asyncio.to_thread(servers.publish, database_url, live, **env)
    resumed = await collect(ws, token, 3)
    await ws.close()
    assert [(m["seq"], m["data"]["pool_name"]) for m in resumed] == [(n, f"{token}-{n - 1}") for n in (4, 5, 6)]
    assert {m["epoch"] for m in resumed} == {seen[0]["epoch"]}


async def test_the_python_client_reconnects_and_resumes_without_gap_or_duplicate(
    launch: Any, database_url: str
) -> None:
    env = {"WS_LEASE_KEY": f"test:ws:{uuid.uuid4().hex}", "WS_HISTORY_KEY": f"test:ws:history:{uuid.uuid4().hex}"}
    server = launch("uvicorn", **env)
    client = StreamClient(server.url, origin=server.origin, backoff_first=0.05, backoff_max=0.5)
    client.subscribe("opportunities", chain_id=56)
    recorder = ClientRecorder(client).start()

    def publish(names: list[str]) -> Any:
        events = [("opportunity", opportunity(pool_name=name)) for name in names]
        return asyncio.to_thread(servers.publish, database_url, events, **env)

    try:
        await recorder.until(lambda: recorder.of(Subscribed))
        await publish(["a", "b"])
        await recorder.until(lambda: len(recorder.of(Notification)) == 2)
        server.stop()  # the fault: the web process goes away under a connected client
        await publish(["c", "d", "e"])  # published while no server is up
        launch("uvicorn", port=server.port, **env)
        await recorder.until(lambda: len(recorder.of(Subscribed)) == 2)
        await publish(["f"])
        await recorder.until(lambda: len(recorder.of(Notification)) == 6)
    finally:
        await recorder.stop()
    resumed = recorder.of(Subscribed)[1]
    assert (resumed.recovered, resumed.seq) == (True, 5)
    assert [(n.seq, n.data["pool_name"]) for n in recorder.of(Notification)] == list(enumerate("abcdef", start=1))
    assert client.connections == 2


@pytest.mark.parametrize("published_before", [0, 1])
async def test_the_python_client_resumes_even_before_its_first_notification(
    launch: Any, database_url: str, published_before: int
) -> None:
    """A quiet subscription (no notification yet) that loses its connection still gets what it missed."""
    env = {"WS_LEASE_KEY": f"test:ws:{uuid.uuid4().hex}", "WS_HISTORY_KEY": f"test:ws:history:{uuid.uuid4().hex}"}
    server = launch("uvicorn", **env)
    before = [("opportunity", opportunity(pool_name="before"))] * published_before
    await asyncio.to_thread(servers.publish, database_url, before, **env)
    client = StreamClient(server.url, origin=server.origin, backoff_first=0.05, backoff_max=0.5)
    client.subscribe("opportunities", chain_id=56)
    recorder = ClientRecorder(client).start()
    try:
        await recorder.until(lambda: recorder.of(Subscribed))
        server.stop()  # the fault: the connection goes before any notification came
        missed = [("opportunity", opportunity(pool_name=name)) for name in ("x", "y")]
        await asyncio.to_thread(servers.publish, database_url, missed, **env)
        launch("uvicorn", port=server.port, **env)
        await recorder.until(lambda: len(recorder.of(Notification)) == 2)
    finally:
        await recorder.stop()
    received = recorder.received
    first, resumed = [m for m in received if isinstance(m, Subscribed)]
    assert (first.recovered, first.seq) == (True, published_before)  # the position, nothing replayed
    assert (resumed.recovered, resumed.seq) == (True, published_before + 2)
    notifications = [(n.seq, n.data["pool_name"]) for n in received if isinstance(n, Notification)]
    assert notifications == [(published_before + 1, "x"), (published_before + 2, "y")]


async def test_the_python_client_does_not_reconnect_after_a_close_it_caused(launch: Any) -> None:
    server = launch("uvicorn", WS_LEASE_KEY=f"test:ws:{uuid.uuid4().hex}")
    client = StreamClient(server.url, origin=server.origin, backoff_first=0.05, backoff_max=0.1)
    received: list[Message] = []
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(60):
            async for message in client.messages():
                received.append(message)
                if isinstance(message, Connected):
                    await client.send({"type": "ping", "padding": "x" * 70_000})  # over WS_MAX_MESSAGE_BYTES
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert client.connections == 1
    assert isinstance(received[-1], Error) and received[-1].message.startswith("Message too big")


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (1008, "Rate limit exceeded", False),
        (1009, "Message too big", False),
        (1008, "Server at capacity", True),
        (1011, "Redis unavailable", True),
        (1013, "Client too slow", True),
        (1001, "", True),
        (None, "", True),
    ],
)
def test_which_closes_the_client_reconnects_after(code: int | None, reason: str, expected: bool) -> None:
    assert should_reconnect(code, reason) is expected


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    delays = [backoff_delay(attempt, first=0.1, maximum=2.0) for attempt in range(8) for _ in range(20)]
    assert all(0.05 <= d <= 2.0 for d in delays)
    assert min(delays[-20:]) >= 1.0 and len(set(delays)) > 100  # capped at 2 s, halved at most; random
