"""API keys, per-key and per-address caps, anonymous access, permessage-deflate: real servers, real clients.

The servers read the keys from their own database (SQLite, or a scratch PostgreSQL database
when the suite runs on PostgreSQL); the clients are plain ``websockets`` connections.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.processes import scratch_database
from tests.streaming import servers
from tests.streaming.helpers import opportunity

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TIMEOUT = 30

CREATE_KEYS = """
import json, sys
import django
django.setup()
from streaming.services import api_key_create
keys = {}
for name, max_connections, max_subscriptions, active in json.load(sys.stdin):
    row, key = api_key_create(
        name=name, max_connections=max_connections, max_subscriptions=max_subscriptions, is_active=active
    )
    keys[name] = key
print(json.dumps(keys))
"""


@pytest.fixture(scope="module")
def keys_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A migrated database (SQLite, or PostgreSQL when the suite runs on it) with chains and four keys."""
    with scratch_database(tmp_path_factory.mktemp("ws-keys"), "ws_keys") as url:
        env = servers.base_env(url)
        subprocess.run([sys.executable, "-c", servers.PREPARE_DB], env=env, cwd=servers.ROOT, check=True, timeout=180)
        spec = [
            ("wide", 10, 32, True), ("two", 2, 1, True), ("off", 10, 32, False), ("solo", 1, 32, True),
            ("doomed", 10, 32, True), ("drained", 2, 32, True),
        ]  # fmt: skip
        made = subprocess.run(
            [sys.executable, "-c", CREATE_KEYS],
            input=json.dumps(spec).encode(),
            env=env,
            cwd=servers.ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield url, json.loads(made.stdout.decode().strip().splitlines()[-1])


@pytest.fixture
def start(keys_database: tuple[str, dict[str, str]], tmp_path: Path) -> Iterator[Any]:
    started: list[servers.WebServer] = []

    def run(kind: str, port: int | None = None, args: tuple[str, ...] = (), **env: str) -> servers.WebServer:
        env.setdefault("WS_LEASE_KEY", f"test:ws:{uuid.uuid4().hex}")
        if kind == "uvicorn":  # the server must not apply X-Forwarded-For itself (the gate does)
            args = ("--no-proxy-headers", *args)
        server = servers.start_server(kind, servers.base_env(keys_database[0], **env), tmp_path, port, args)
        started.append(server)
        return server

    yield run
    for server in started:
        server.stop()


DEACTIVATE = """
import sys
import django
django.setup()
from streaming.models import ApiKey
assert ApiKey.objects.filter(name=sys.argv[1]).update(is_active=False) == 1
"""


@pytest.fixture
def keys(keys_database: tuple[str, dict[str, str]]) -> dict[str, str]:
    return keys_database[1]


async def open_client(server: servers.WebServer, query: str = "", **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("compression", None)
    ws = await connect(server.url + query, open_timeout=TIMEOUT, **kwargs)
    welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert welcome["type"] == "connected", welcome
    return ws


async def refusal(server: servers.WebServer, query: str = "", **kwargs: Any) -> tuple[str, int, str]:
    """Connect, expect an error then a close: (error message, close code, close reason)."""
    ws = await connect(server.url + query, open_timeout=TIMEOUT, compression=None, **kwargs)
    message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert message["type"] == "error", message
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    return message["message"], closed.value.rcvd.code, closed.value.rcvd.reason


async def request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def eventually_accepted(server: servers.WebServer, seconds: float = 20, **kwargs: Any) -> ClientConnection:
    """Open a client, retrying while the server refuses with 1008 (a slot not back yet)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        ws = await connect(server.url, open_timeout=TIMEOUT, compression=None, **kwargs)
        first = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if first["type"] == "connected":
            return ws
        await ws.close()
        assert asyncio.get_running_loop().time() < deadline, f"still refused: {first}"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_a_key_is_accepted_in_each_form_and_a_bad_or_inactive_one_is_refused(
    start: Any, keys: dict[str, str], kind: str
) -> None:
    server = start(kind, WS_ALLOW_ANONYMOUS="0")
    key = keys["wide"]
    header = await open_client(server, additional_headers={"X-API-Key": key})
    query = await open_client(server, f"?api_key={key}")
    browser_like = await open_client(server, subprotocols=["arbmonitor.v1", f"arbmonitor.key.{key}"])
    assert browser_like.subprotocol == "arbmonitor.v1"  # the protocol's name, never the key
    for ws in (header, query, browser_like):
        reply = await request(ws, {"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56}})
        assert reply["type"] == "subscribed"
        await ws.close()

    invalid = ("Invalid API key: unknown or inactive", 4001, "Invalid API key")
    assert await refusal(server, additional_headers={"X-API-Key": key + "x"}) == invalid
    assert await refusal(server, f"?api_key={keys['off']}") == invalid  # inactive
    assert await refusal(server, subprotocols=["arbmonitor.v1", f"arbmonitor.key.{keys['off']}"]) == invalid
    assert await refusal(server, f"?api_key={keys['solo']}", additional_headers={"X-API-Key": key}) == (
        "Invalid API key: more than one key was sent",
        4001,
        "Invalid API key",
    )
    assert await refusal(server) == (
        "API key required: this server does not accept anonymous connections",
        4003,
        "API key required",
    )


async def test_a_keys_caps_hold_across_two_processes_and_its_slots_come_back_on_close_and_on_kill(
    start: Any, keys: dict[str, str]
) -> None:
    lease_key = f"test:ws:{uuid.uuid4().hex}"
    one = start("uvicorn", WS_LEASE_KEY=lease_key, WS_LEASE_SECONDS="2")
    two = start("uvicorn", WS_LEASE_KEY=lease_key, WS_LEASE_SECONDS="2")
    headers = {"X-API-Key": keys["two"]}  # max_connections 2, max_subscriptions 1
    on_one = await open_client(one, additional_headers=headers)
    on_two = await open_client(two, additional_headers=headers)
    over = (
        "Too many connections for this API key: at most 2; close one first",
        1008,
        "Too many connections for this API key",
    )
    assert await refusal(one, additional_headers=headers) == over
    assert await refusal(two, f"?api_key={keys['two']}") == over
    # Other keys and anonymous clients are not affected by this key's cap.
    other = await open_client(two, additional_headers={"X-API-Key": keys["wide"]})
    anonymous = await open_client(one)

    # The key's subscription cap is per connection.
    assert (await request(on_one, {"type": "subscribe", "channel": "opportunities"}))["type"] == "subscribed"
    assert await request(on_one, {"type": "subscribe", "channel": "transactions"}) == {
        "type": "error",
        "message": "Too many subscriptions: at most 1 per connection; unsubscribe first",
    }
    assert (await request(other, {"type": "subscribe", "channel": "opportunities"}))["type"] == "subscribed"
    assert (await request(other, {"type": "subscribe", "channel": "transactions"}))["type"] == "subscribed"

    await on_one.close()  # its slot comes back at once
    again = await eventually_accepted(one, seconds=5, additional_headers=headers)
    assert await refusal(one, additional_headers=headers) == over

    two.kill()  # kill -9: nobody gives its slot back; the lease expires (WS_LEASE_SECONDS=2)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(on_two.recv(), TIMEOUT)
    replacement = await eventually_accepted(one, seconds=20, additional_headers=headers)
    for ws in (again, replacement, anonymous):
        await ws.close()


async def test_anonymous_clients_are_capped_per_address_and_forwarded_for_counts_only_from_trusted_proxies(
    start: Any,
) -> None:
    behind_proxy = start("uvicorn", WS_MAX_CONNECTIONS_PER_IP="1", WS_TRUSTED_PROXIES="127.0.0.1/32")
    first = await open_client(behind_proxy, additional_headers={"X-Forwarded-For": "203.0.113.7"})
    # Another client behind the same proxy: its own address, its own slot.
    second = await open_client(behind_proxy, additional_headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.8"})
    over = (
        "Too many connections for your address: at most 1; close one first",
        1008,
        "Too many connections for your address",
    )
    assert await refusal(behind_proxy, additional_headers={"X-Forwarded-For": "203.0.113.7"}) == over
    # The proxy itself (no header) is one more address.
    direct = await open_client(behind_proxy)
    await first.close()
    replacement = await eventually_accepted(
        behind_proxy, seconds=5, additional_headers={"X-Forwarded-For": "203.0.113.7"}
    )

    exposed = start("uvicorn", WS_MAX_CONNECTIONS_PER_IP="1")  # no trusted proxy: the header is anybody's
    mine = await open_client(exposed, additional_headers={"X-Forwarded-For": "203.0.113.7"})
    assert await refusal(exposed, additional_headers={"X-Forwarded-For": "192.0.2.99"}) == over  # spoof ignored
    assert await refusal(exposed) == over
    for ws in (second, direct, replacement, mine):
        await ws.close()


async def test_with_anonymous_access_off_only_key_holders_get_in(start: Any, keys: dict[str, str]) -> None:
    server = start("uvicorn", WS_ALLOW_ANONYMOUS="false")
    assert (await refusal(server, additional_headers={"X-Forwarded-For": "203.0.113.7"}))[1:] == (
        4003,
        "API key required",
    )
    ws = await open_client(server, additional_headers={"X-API-Key": keys["wide"]})
    assert (await request(ws, {"type": "ping"}))["type"] == "pong"
    await ws.close()


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_permessage_deflate_is_negotiated_only_when_on_and_offered(
    start: Any, keys_database: tuple[str, dict[str, str]], kind: str
) -> None:
    on = start(kind, WS_PER_MESSAGE_DEFLATE="1")
    off = start(kind, WS_PER_MESSAGE_DEFLATE="0")
    offering = await open_client(on, compression="deflate")
    assert [type(e).__name__ for e in offering.protocol.extensions] == ["PerMessageDeflate"]
    not_offering = await open_client(on, compression=None)
    assert not_offering.protocol.extensions == []
    refused_offer = await open_client(off, compression="deflate")
    assert refused_offer.protocol.extensions == []

    # Notifications arrive intact on compressed and plain connections alike.
    token = uuid.uuid4().hex[:10]
    for ws in (offering, not_offering, refused_offer):
        assert (await request(ws, {"type": "subscribe", "channel": "opportunities"}))["type"] == "subscribed"
    sent = opportunity(chain_id=56, profit_usd=1234.5, pool_name=f"{token}-deflate")
    await asyncio.to_thread(servers.publish, keys_database[0], [("opportunity", sent)])
    for ws in (offering, not_offering, refused_offer):
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if message["type"] == "opportunity" and message["data"]["pool_name"] == sent["pool_name"]:
                assert message["data"] == sent
                break
        await ws.close()


async def test_a_revoked_key_s_open_connections_are_told_and_closed_4001_and_others_stay(
    start: Any, keys_database: tuple[str, dict[str, str]]
) -> None:
    url, keys = keys_database
    server = start("uvicorn", WS_LEASE_SECONDS="1.5")  # the maintenance round (a third of it) checks the keys
    doomed = [await open_client(server, additional_headers={"X-API-Key": keys["doomed"]}) for _ in range(2)]
    kept = await open_client(server, additional_headers={"X-API-Key": keys["wide"]})
    anonymous = await open_client(server)
    for ws in doomed:
        assert (await request(ws, {"type": "subscribe", "channel": "opportunities"}))["type"] == "subscribed"

    # The fault: an operator deactivates the key while its clients are connected (admin or shell).
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", DEACTIVATE, "doomed"],
        env=servers.base_env(url),
        cwd=servers.ROOT,
        check=True,
        timeout=120,
    )
    for ws in doomed:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert message["type"] == "error" and message["message"].startswith("API key revoked"), message
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "API key revoked")
    assert await refusal(server, additional_headers={"X-API-Key": keys["doomed"]}) == (
        "Invalid API key: unknown or inactive",
        4001,
        "Invalid API key",
    )
    for ws in (kept, anonymous):
        assert (await request(ws, {"type": "ping"}))["type"] == "pong"
        await ws.close()


async def test_a_key_s_slots_come_back_when_a_draining_process_closes_its_connections(
    start: Any, keys: dict[str, str]
) -> None:
    lease_key = f"test:ws:{uuid.uuid4().hex}"
    # Leases far longer than the test: a slot that comes back was given back, not expired.
    stopping = start("uvicorn", WS_LEASE_KEY=lease_key, WS_LEASE_SECONDS="300")
    staying = start("uvicorn", WS_LEASE_KEY=lease_key, WS_LEASE_SECONDS="300")
    headers = {"X-API-Key": keys["drained"]}  # max_connections 2
    held = [await open_client(stopping, additional_headers=headers) for _ in range(2)]
    assert (await refusal(staying, additional_headers=headers))[1] == 1008

    stopping.process.terminate()  # a deploy: SIGTERM, the process drains (notice, 1001) and exits
    for ws in held:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    await asyncio.to_thread(stopping.process.wait, TIMEOUT)
    moved = [await open_client(staying, additional_headers=headers) for _ in range(2)]
    for ws in moved:
        await ws.close()
