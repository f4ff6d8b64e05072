"""The streaming fault suite: real servers, real Redis, real sockets, faults injected from outside.

Abandoned handshakes and TCP resets, fuzzed frames, clients that stop reading or
answering pings, Redis killed and restarted empty while clients listen, a service
missing at connect. The common promise: every frame gets exactly one reply, no
connection slot (lease) outlives its connection, and nothing is dropped without
the client being told. (kill -9 of a web process with clients is
``test_integration.py::test_the_limit_is_shared_by_two_web_processes_and_a_killed_one_frees_its_slots``.)
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection as SyncConnection
from websockets.sync.client import connect as sync_connect

from arbmonitor.embedded_redis import EmbeddedRedis
from tests.streaming import servers
from tests.streaming.helpers import opportunity

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TIMEOUT = 30
REDIS_URL = os.environ.get("REDIS_URL", "")


async def until(condition: Callable[[], bool], what: str, within: float = TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await asyncio.to_thread(condition):
        assert loop.time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.1)


async def open_client(server: servers.WebServer) -> ClientConnection:
    ws = await connect(server.url, origin=server.origin, open_timeout=TIMEOUT, max_size=2**24)  # type: ignore[arg-type]
    welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert welcome["type"] == "connected", welcome
    return ws


async def request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


def reset(sock: socket.socket) -> None:
    """Close with an RST, as a crashed client or a middlebox does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def upgrade_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def raw_handshake(port: int, rcvbuf: int | None = None) -> socket.socket:
    """A WebSocket client that is only a socket: after this it reads and answers exactly what the test says."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(upgrade_request(port))
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)  # a byte at a time: leave the first frames unread
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return sock


def text_frame(text: str) -> bytes:
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=True)


def abandon_handshake(port: int, how: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    request = upgrade_request(port)
    if how == 0:  # the whole upgrade request, then an RST before the answer
        sock.sendall(request)
        reset(sock)
    elif how == 1:  # the whole request, then a plain close
        sock.sendall(request)
        sock.close()
    elif how == 2:  # half a request
        sock.sendall(request[: len(request) // 2])
        reset(sock)
    else:  # the 101 arrives, then an RST before the welcome is read
        sock.sendall(request)
        sock.recv(1)
        reset(sock)


async def test_abandoned_handshakes_and_reset_clients_leak_no_slot(launch: Any) -> None:
    key = f"test:ws:{uuid.uuid4().hex}"
    server = launch("uvicorn", WS_LEASE_KEY=key, WS_MAX_CONNECTIONS="5", WS_LEASE_SECONDS="3")
    for batch in range(6):  # 60 in all, ten at a time so some are mid-admission when the peer goes
        await asyncio.gather(*(asyncio.to_thread(abandon_handshake, server.port, (batch + n) % 4) for n in range(10)))
    for _ in range(5):  # established clients that vanish with a TCP reset
        ws = await open_client(server)
        await request(ws, {"type": "subscribe", "channel": "opportunities"})
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.transport.abort()
    # A slot is released when its connection ends; one whose release failed is no
    # longer renewed and expires within WS_LEASE_SECONDS. Leaked ones would be renewed for ever.
    await until(lambda: servers.live_leases(REDIS_URL, key) == 0, "every slot back", within=15)
    clients = [await open_client(server) for _ in range(5)]
    ws = await connect(server.url, origin=server.origin, open_timeout=TIMEOUT)  # type: ignore[arg-type]
    assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) == {"type": "error", "message": "Server at capacity"}
    for client in [*clients, ws]:
        await client.close()
    assert server.process.poll() is None


async def test_a_storm_of_connections_is_admitted_and_released_at_once(launch: Any) -> None:
    # More concurrent handshakes and closes than redis-py's default pool has connections (100).
    key = f"test:ws:{uuid.uuid4().hex}"
    server = launch("uvicorn", WS_LEASE_KEY=key, WS_MAX_CONNECTIONS="300", WS_LEASE_SECONDS="30")
    clients = await asyncio.gather(*(open_client(server) for _ in range(250)))
    assert servers.live_leases(REDIS_URL, key) == 250
    await asyncio.gather(*(ws.close() for ws in clients))
    # Released, not expired: well within the 30 s lease.
    await until(lambda: servers.live_leases(REDIS_URL, key) == 0, "every slot back", within=10)
    assert "could not release" not in server.log.read_text()


@pytest.mark.parametrize(
    ("env", "cause", "reason"),
    [
        ({"DATABASE_URL": "sqlite:///{tmp}/empty.sqlite3"}, "the database is unreachable", "Database unavailable"),
        ({"REDIS_URL": "redis://127.0.0.1:{dead}/0"}, "Redis is unreachable", "Redis unavailable"),
    ],
    ids=["database", "redis"],
)
async def test_a_connection_refused_for_a_missing_service_names_it(
    launch: Any, tmp_path: Path, env: dict[str, str], cause: str, reason: str
) -> None:
    values = {k: v.format(tmp=tmp_path, dead=servers.free_port()) for k, v in env.items()}
    server = launch("uvicorn", WS_LEASE_KEY=f"test:ws:{uuid.uuid4().hex}", **values)
    ws = await connect(server.url, origin=server.origin, open_timeout=TIMEOUT)  # type: ignore[arg-type]
    error = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert error == {"type": "error", "message": f"Service unavailable: {cause}; try again later"}
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, reason)


# --- protocol fuzzing -------------------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**1200),
    st.integers(min_value=-(10**1200), max_value=-(10**300)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_filter_key = st.sampled_from(["chain_id", "min_profit", "max_profit", "min_swaps"]) | st.text(max_size=10)
_filter_value = st.one_of(st.sampled_from([56, 137, 1, 0]), st.floats(0, 1e6), _scalars, _values)
_filters = st.dictionaries(_filter_key, _filter_value, max_size=4) | _values
_channel = st.sampled_from(["opportunities", "transactions"]) | _values
_huge = st.integers(min_value=10**300, max_value=10**1200)
_number = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6), st.floats(), _huge, _scalars)
# Nearly well-formed subscribes: each known filter present or not, with numbers of every size.
_known_filters = st.fixed_dictionaries(
    {},
    optional={
        "chain_id": st.sampled_from([56, 137, 1]) | _number,
        "min_profit": _number,
        "max_profit": _number,
        "min_swaps": st.integers(0, 5) | _number,
    },
)
_messages = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("subscribe"), "channel": st.sampled_from(["opportunities", "transactions"])},
        optional={"filters": _known_filters},
    ),
    st.fixed_dictionaries({"type": st.just("subscribe"), "channel": _channel}, optional={"filters": _filters}),
    st.fixed_dictionaries({"type": st.just("unsubscribe"), "channel": _channel}),
    st.just({"type": "ping"}),
    st.fixed_dictionaries({"type": _values}, optional={"channel": _channel}),
    _values,
)
FRAMES = st.one_of(
    _messages.map(json.dumps),  # floats bring NaN/Infinity literals, ints a thousand digits
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200),
    st.binary(max_size=200),
    st.integers(65_520, 70_000).map(lambda n: json.dumps({"type": "ping", "pad": "é" * (n // 2)})),  # over 64 KiB
)


def _expected(frame: str | bytes) -> set[str]:
    """The reply types a frame may get (the reply's content is checked by the consumer tests)."""
    if isinstance(frame, bytes) or len(frame.encode()) > 65536:
        return {"error"}
    try:
        message = json.loads(frame)
    except ValueError:
        return {"error"}
    kind = message.get("type") if isinstance(message, dict) else None
    return {"ping": {"pong", "error"}, "subscribe": {"subscribed", "error"}}.get(
        kind if isinstance(kind, str) else "", {"unsubscribed", "error"} if kind == "unsubscribe" else {"error"}
    )


class FuzzClient:
    def __init__(self, server: servers.WebServer) -> None:
        self.server = server
        self.ws = self._open()
        self.frames = 0

    def _open(self) -> SyncConnection:
        ws = sync_connect(self.server.url, origin=self.server.origin, open_timeout=TIMEOUT, legacy=True)  # type: ignore[arg-type]
        assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "connected"
        return ws

    def exchange(self, frame: str | bytes) -> None:
        """One frame: exactly one reply of an allowed type, then a ping answered by the very next message."""
        self.frames += 1
        self.ws.send(frame)
        reply = json.loads(self.ws.recv(timeout=TIMEOUT))
        assert reply["type"] in _expected(frame), (frame[:200], reply)
        if reply["type"] == "error" and reply["message"].startswith("Message too big"):
            with pytest.raises(ConnectionClosed) as closed:
                self.ws.recv(timeout=TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            self.ws = self._open()
            return
        self.ws.send('{"type": "ping"}')
        after = json.loads(self.ws.recv(timeout=TIMEOUT))
        assert after["type"] == "pong", ("a second reply", frame[:200], reply, after)


@pytest.fixture
def fuzz_server(launch: Any) -> Iterator[tuple[servers.WebServer, str]]:
    key = f"test:ws:{uuid.uuid4().hex}"
    yield launch("uvicorn", WS_LEASE_KEY=key, WS_RATE_LIMIT_PER_SECOND="1000000", WS_HEARTBEAT_SECONDS="3600"), key


def test_fuzzed_frames_get_exactly_one_reply_each_and_leak_no_slot(fuzz_server: tuple[Any, str]) -> None:
    server, key = fuzz_server
    client = FuzzClient(server)

    @settings(
        max_examples=400,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(FRAMES)
    def one_frame(frame: str | bytes) -> None:
        client.exchange(frame)

    one_frame()
    assert client.frames >= 400
    client.ws.close()
    asyncio.run(until(lambda: servers.live_leases(REDIS_URL, key) == 0, "the fuzzed connections' slots back"))
    assert server.process.poll() is None


# --- clients that stop reading or answering -------------------------------------------------------------------


def _big_events(token: str, count: int) -> list[tuple[str, dict[str, Any]]]:
    return [("opportunity", opportunity(pool_name=f"{token}-{n}-" + "x" * 60_000)) for n in range(count)]


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_a_client_that_stops_reading_loses_its_slot_and_the_others_are_served(
    launch: Any, database_url: str, kind: str
) -> None:
    key = f"test:ws:{uuid.uuid4().hex}"
    server = launch(kind, args=tuple(servers.ping_args(kind, 1, 2)), WS_LEASE_KEY=key, WS_SEND_TIMEOUT_SECONDS="2")
    stuck = await asyncio.to_thread(raw_handshake, server.port, 4096)
    stuck.sendall(text_frame('{"type":"subscribe","channel":"opportunities"}'))
    reader = await open_client(server)
    assert (await request(reader, {"type": "subscribe", "channel": "opportunities"}))["type"] == "subscribed"
    await until(lambda: servers.live_leases(REDIS_URL, key) == 2, "both admitted")
    token = uuid.uuid4().hex[:8]
    events = _big_events(token, 150)  # ~9 MB: far more than the socket buffers hold
    publishing = asyncio.create_task(asyncio.to_thread(servers.publish, database_url, events))
    received = 0
    while received < len(events):
        message = json.loads(await asyncio.wait_for(reader.recv(), TIMEOUT))
        if message["type"] == "opportunity" and message["data"]["pool_name"].startswith(token):
            assert message["data"]["pool_name"].startswith(f"{token}-{received}-")
            received += 1
    await publishing
    # The stuck client's slot comes back although it never closed its socket.
    await until(lambda: servers.live_leases(REDIS_URL, key) == 1, "the stuck client's slot back")
    stuck.close()
    await reader.close()


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "connection closed mid-frame"
            data += chunk
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", exactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", exactly(8))[0]
    return first & 0x0F, exactly(length)


async def test_a_lagging_client_gets_its_slot_freed_at_once_and_the_error_and_1013_when_it_reads(
    launch: Any, database_url: str
) -> None:
    key = f"test:ws:{uuid.uuid4().hex}"
    # The send timeout is long here: this is the backlog-overflow path alone.
    server = launch("uvicorn", WS_LEASE_KEY=key, WS_SEND_QUEUE_SIZE="5", WS_SEND_TIMEOUT_SECONDS="120")
    lagging = await asyncio.to_thread(raw_handshake, server.port, 4096)
    lagging.sendall(text_frame('{"type":"subscribe","channel":"opportunities"}'))
    await until(lambda: servers.live_leases(REDIS_URL, key) == 1, "admitted")
    token = uuid.uuid4().hex[:8]
    await asyncio.to_thread(servers.publish, database_url, _big_events(token, 150))
    # Its slot is back while it still has not read a byte.
    await until(lambda: servers.live_leases(REDIS_URL, key) == 0, "the lagging client's slot back")

    def read_to_the_end() -> list[tuple[int, bytes]]:
        frames = []
        while True:
            opcode, payload = read_frame(lagging)
            frames.append((opcode, payload))
            if opcode == 0x8:
                return frames

    frames = await asyncio.to_thread(read_to_the_end)
    lagging.close()
    close_code = struct.unpack("!H", frames[-1][1][:2])[0]
    error = json.loads(frames[-2][1])
    assert close_code == 1013 and frames[-1][1][2:] == b"Client too slow"
    assert error["type"] == "error" and error["message"].startswith("Too slow: more than 5 messages"), error
    notifications = [json.loads(payload) for opcode, payload in frames[:-2] if opcode == 0x1]
    names = [m["data"]["pool_name"] for m in notifications if m["type"] == "opportunity"]
    assert names == [name for name in names if name.startswith(token)] and len(names) < 150
    assert [int(name.split("-")[1]) for name in names] == list(range(len(names)))  # in order, no gap before the error


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_a_client_that_stops_answering_pings_loses_its_slot(launch: Any, kind: str) -> None:
    key = f"test:ws:{uuid.uuid4().hex}"
    server = launch(kind, args=tuple(servers.ping_args(kind, 1, 2)), WS_LEASE_KEY=key)
    silent = await asyncio.to_thread(raw_handshake, server.port)
    stop = threading.Event()

    def read_and_never_answer() -> None:  # the host is up, the peer reads, but sends nothing back
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                if not silent.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    drain = threading.Thread(target=read_and_never_answer, daemon=True)
    drain.start()
    await until(lambda: servers.live_leases(REDIS_URL, key) == 1, "admitted")
    await until(lambda: servers.live_leases(REDIS_URL, key) == 0, "the silent client's slot back")
    stop.set()
    drain.join(timeout=5)
    silent.close()
    ws = await open_client(server)  # the server itself is fine
    await ws.close()


# --- Redis killed and restarted, empty, while clients listen --------------------------------------------------

PUBLISHER = """
import json, sys
import django
django.setup()
from streaming.broadcast import broadcast_flush, broadcast_opportunity
for line in sys.stdin:
    broadcast_opportunity(json.loads(line))
    broadcast_flush(20)
    print("done", flush=True)
"""


class Publisher:
    """One long-lived publishing process: its sequence numbers run across the outage."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER],
            env=env,
            cwd=servers.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def publish(self, data: dict[str, Any]) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(data) + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "done"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


async def next_message(ws: ClientConnection) -> dict[str, Any]:
    """The next message that is not a heartbeat, within TIMEOUT (heartbeats do not extend it)."""

    async def skip_heartbeats() -> dict[str, Any]:
        while True:
            message = json.loads(await ws.recv())
            if message["type"] != "heartbeat":
                return message

    return await asyncio.wait_for(skip_heartbeats(), TIMEOUT)


async def test_redis_killed_and_restarted_empty_clients_are_told_and_live_delivery_resumes(
    launch: Any, database_url: str
) -> None:
    redis = EmbeddedRedis().start()
    key = f"test:ws:{uuid.uuid4().hex}"
    env = {"REDIS_URL": redis.url, "WS_LEASE_KEY": key}  # WS_LEASE_SECONDS stays 30: no periodic rejoin helps
    server = launch("uvicorn", **env)
    publisher = Publisher(servers.base_env(database_url, **env))
    try:
        ws = await open_client(server)
        assert (await request(ws, {"type": "subscribe", "channel": "opportunities"}))["type"] == "subscribed"
        await asyncio.to_thread(publisher.publish, opportunity(pool_name="before"))
        before = await next_message(ws)
        assert before["data"]["pool_name"] == "before"

        assert redis.process is not None
        redis.process.kill()  # kill -9: no goodbye
        redis.process.wait(timeout=10)
        interrupted = await next_message(ws)
        assert interrupted["type"] == "error" and "interrupted" in interrupted["message"], interrupted
        assert "Redis" in interrupted["message"] and "overloaded" not in interrupted["message"]
        await asyncio.to_thread(publisher.publish, opportunity(pool_name="during"))  # fails: Redis is down

        redis = EmbeddedRedis(port=redis.port).start()  # the same address, empty
        resumed = await next_message(ws)
        assert resumed["type"] == "error" and resumed["message"].startswith("Live notifications resumed"), resumed
        await asyncio.to_thread(publisher.publish, opportunity(pool_name="after"))
        gap = await next_message(ws)
        assert gap == {
            "type": "error",
            "message": "1 opportunities notification(s) were missed while this server was cut off from Redis",
        }
        # The history went with Redis: a new epoch, numbered from 1 again, and the client is told.
        reset = await next_message(ws)
        assert reset["type"] == "error", reset
        assert reset["message"].startswith("The opportunities history of chain 56 was reset"), reset
        after = await next_message(ws)
        assert after["data"]["pool_name"] == "after"
        assert after["seq"] == 1 and after["epoch"] != before["epoch"] and after["epoch"] in reset["message"]
        # The restarted Redis holds this server's live lease again.
        await until(lambda: servers.live_leases(redis.url, key) == 1, "the lease re-taken")
        await ws.close()
    finally:
        publisher.stop()
        redis.stop()
