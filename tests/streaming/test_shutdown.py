"""Shutdown and deploy: SIGTERM of a real web process closes each client with a notice and 1001.

What was already queued for a client (here a slow one with ~9 MB waiting) is sent first, then the
notice, then the close frame; the slots come back before the process exits; a client resuming with
``since`` on the next process misses nothing.
"""

from __future__ import annotations

import asyncio
import json
import signal
import struct
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from streaming.client import Error, Notification, StreamClient, Subscribed
from streaming.fanout import SHUTDOWN_NOTICE
from tests.streaming import servers
from tests.streaming.helpers import ClientRecorder, opportunity
from tests.streaming.test_faults import (
    REDIS_URL,
    TIMEOUT,
    _big_events,
    next_message,
    open_client,
    raw_handshake,
    read_frame,
    request,
    text_frame,
    until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_sigterm_sends_what_was_queued_then_the_notice_and_1001_and_frees_the_slots(
    launch: Any, database_url: str, kind: str
) -> None:
    key = f"test:ws:{uuid.uuid4().hex}"
    server = launch(
        kind,
        # The slow reader meets the server's keepalive pings only behind ~9 MB: under load that can take
        # longer than the default pong timeout (daphne's 30 s), after which the server drops it.
        args=tuple(servers.ping_args(kind, 20, 300)),
        WS_LEASE_KEY=key,
        WS_SEND_TIMEOUT_SECONDS="120",  # the slow client is slow, not stuck: it reads everything after the signal
        WS_SHUTDOWN_GRACE_SECONDS="120",
    )
    slow = await asyncio.to_thread(raw_handshake, server.port, 4096)
    slow.sendall(text_frame('{"type":"subscribe","channel":"opportunities"}'))
    reader = await open_client(server)
    assert (await request(reader, {"type": "subscribe", "channel": "opportunities"}))["type"] == "subscribed"
    await until(lambda: servers.live_leases(REDIS_URL, key) == 2, "both admitted")
    token = uuid.uuid4().hex[:8]
    events = _big_events(token, 150)  # ~9 MB: most of it waits in the server for the slow client
    await asyncio.to_thread(servers.publish, database_url, events)
    for n in range(len(events)):  # the reader has them all: so the slow client's are queued in the server
        message = await next_message(reader)
        assert message["type"] == "opportunity" and message["data"]["pool_name"].startswith(f"{token}-{n}-")

    server.process.send_signal(signal.SIGTERM)  # a deploy: the process is asked to stop

    notice = await next_message(reader)
    assert notice == {"type": "error", "message": SHUTDOWN_NOTICE}
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(reader.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "Server shutting down")

    def read_to_the_close() -> list[tuple[int, bytes]]:
        frames = []
        while True:
            opcode, payload = read_frame(slow)
            if opcode == 0x9:  # daphne's keepalive ping: answered, or it drops a slow reader under load
                slow.sendall(Frame(Opcode.PONG, payload).serialize(mask=True))
                continue
            frames.append((opcode, payload))
            if opcode == 0x8:
                slow.sendall(Frame(Opcode.CLOSE, payload[:2]).serialize(mask=True))  # the closing handshake
                return frames

    frames = await asyncio.to_thread(read_to_the_close)
    slow.close()
    assert struct.unpack("!H", frames[-1][1][:2])[0] == 1001 and frames[-1][1][2:] == b"Server shutting down"
    messages = [json.loads(payload) for opcode, payload in frames[:-1] if opcode == 0x1]
    assert [m["type"] for m in messages[:2]] == ["connected", "subscribed"]
    names = [m["data"]["pool_name"] for m in messages[2:-1]]
    assert [name.split("-")[:2] for name in names] == [[token, str(n)] for n in range(len(events))]  # all, in order
    assert messages[-1] == {"type": "error", "message": SHUTDOWN_NOTICE}

    assert await asyncio.to_thread(server.process.wait, TIMEOUT) is not None  # the server then stops
    assert servers.live_leases(REDIS_URL, key) == 0  # both slots given back, not left to expire


async def test_a_client_connecting_while_the_server_drains_is_told_and_closed_with_1001(launch: Any) -> None:
    server = launch("uvicorn", WS_LEASE_KEY=f"test:ws:{uuid.uuid4().hex}", WS_SHUTDOWN_GRACE_SECONDS="30")
    # A client that never answers the close keeps the server draining for a while. (Its connection
    # started the hub, which wrapped the server's signal handlers.)
    stuck = await asyncio.to_thread(raw_handshake, server.port)
    stuck.sendall(text_frame('{"type":"subscribe","channel":"opportunities"}'))
    server.process.send_signal(signal.SIGTERM)

    def close_of_stuck() -> int:
        while True:
            opcode, payload = read_frame(stuck)
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])

    assert await asyncio.to_thread(close_of_stuck) == 1001  # draining now, waiting for its closing handshake
    # As when the server is at capacity: no welcome, the reason in-band, then the close.
    late = await connect(server.url, origin=server.origin, open_timeout=TIMEOUT)
    assert await next_message(late) == {"type": "error", "message": SHUTDOWN_NOTICE}
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(late.recv(), TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    stuck.close()


async def test_the_python_client_rides_a_deploy_told_closed_with_1001_and_resumed_without_loss(
    launch: Any, database_url: str
) -> None:
    env = {"WS_LEASE_KEY": f"test:ws:{uuid.uuid4().hex}", "WS_HISTORY_KEY": f"test:ws:history:{uuid.uuid4().hex}"}
    server = launch("daphne", **env)
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
        server.stop()  # SIGTERM: the old process goes
        await publish(["c", "d"])  # the deploy's gap
        launch("daphne", port=server.port, **env)  # the new process
        await recorder.until(lambda: len(recorder.of(Subscribed)) == 2)
        await publish(["e"])
        await recorder.until(lambda: len(recorder.of(Notification)) == 5)
    finally:
        await recorder.stop()
    received = recorder.received
    assert Error(SHUTDOWN_NOTICE) in received
    assert client.closes[0] == (1001, "Server shutting down")
    assert [(n.seq, n.data["pool_name"]) for n in recorder.of(Notification)] == list(enumerate("abcde", start=1))
