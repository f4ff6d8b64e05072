"""Real processes: uvicorn / daphne serving the app, the Redis channel layer, `websockets` clients."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.streaming import servers
from tests.streaming.helpers import opportunity, transaction

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = Path("/work/shared/spec/websocket-streaming.md")
TIMEOUT = 30


async def open_client(server: servers.WebServer) -> ClientConnection:
    ws = await connect(server.url, origin=server.origin, open_timeout=TIMEOUT)  # type: ignore[arg-type]
    welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert welcome["type"] == "connected", welcome
    return ws


async def request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def collect(ws: ClientConnection, token: str, expected: int) -> list[dict[str, Any]]:
    """This run's notifications (others may share the Redis), until `expected` arrived plus a quiet second."""
    received: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        quiet = 1.0 if len(received) >= expected else max(0.1, deadline - asyncio.get_running_loop().time())
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), quiet))
        except TimeoutError:
            return received
        if message["type"] in ("opportunity", "transaction") and token in json.dumps(message["data"]):
            received.append(message)


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_a_broadcast_from_another_process_reaches_exactly_the_matching_clients(
    launch: Any, database_url: str, kind: str
) -> None:
    server = launch(kind, WS_LEASE_KEY=f"test:ws:{uuid.uuid4().hex}")
    token = uuid.uuid4().hex[:10]
    bsc_rich, polygon, three_hops, nothing = [await open_client(server) for _ in range(4)]
    await request(
        bsc_rich, {"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56, "min_profit": 1000}}
    )
    await request(polygon, {"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 137}})
    await request(polygon, {"type": "subscribe", "channel": "transactions", "filters": {"chain_id": 137}})
    await request(three_hops, {"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": 3}})
    events = [
        ("opportunity", opportunity(chain_id=56, profit_usd=5000.0, pool_name=f"{token}-a")),
        ("opportunity", opportunity(chain_id=56, profit_usd=10.0, pool_name=f"{token}-b")),
        ("opportunity", opportunity(chain_id=137, profit_usd=5000.0, pool_name=f"{token}-c")),
        ("transaction", transaction(chain_id=137, swap_count=2, tx_hash=f"0x{token}d")),
        ("transaction", transaction(chain_id=56, swap_count=3, tx_hash=f"0x{token}e")),
    ]
    await asyncio.to_thread(servers.publish, database_url, events)

    def names(messages: list[dict[str, Any]]) -> list[str]:
        return [m["data"].get("pool_name") or m["data"]["tx_hash"] for m in messages]

    bsc_got, polygon_got, hops_got, nothing_got = await asyncio.gather(
        collect(bsc_rich, token, 1),
        collect(polygon, token, 2),
        collect(three_hops, token, 1),
        collect(nothing, token, 0),
    )
    assert names(bsc_got) == [f"{token}-a"]
    assert names(polygon_got) == [f"{token}-c", f"0x{token}d"]
    assert names(hops_got) == [f"0x{token}e"]
    assert nothing_got == []
    assert bsc_got[0]["data"] == events[0][1]
    for ws in (bsc_rich, polygon, three_hops, nothing):
        await ws.close()


async def expect_at_capacity(server: servers.WebServer) -> None:
    ws = await connect(server.url, origin=server.origin, open_timeout=TIMEOUT)  # type: ignore[arg-type]
    assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) == {"type": "error", "message": "Server at capacity"}
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == "Server at capacity"


async def test_the_limit_is_shared_by_two_web_processes_and_a_killed_one_frees_its_slots(launch: Any) -> None:
    env = {"WS_LEASE_KEY": f"test:ws:{uuid.uuid4().hex}", "WS_LEASE_SECONDS": "2", "WS_MAX_CONNECTIONS": "100"}
    daphne, uvicorn = launch("daphne", **env), launch("uvicorn", **env)
    on_daphne = [await open_client(daphne) for _ in range(60)]
    on_uvicorn = [await open_client(uvicorn) for _ in range(40)]
    await expect_at_capacity(uvicorn)  # the 101st
    await expect_at_capacity(daphne)
    daphne.kill()
    for ws in on_daphne:
        ws.transport.abort()
    # The killed process's 60 leases expire within WS_LEASE_SECONDS; uvicorn's are renewed.
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        try:
            extra = await open_client(uvicorn)
            break
        except AssertionError:
            assert asyncio.get_running_loop().time() < deadline, "the killed process's slots never came back"
            await asyncio.sleep(0.5)
    # The first slot is back; each lease expires on its own clock, so all 60 are back one lease
    # time later (the bound the server promises).
    await asyncio.sleep(float(env["WS_LEASE_SECONDS"]) + 1)
    more = [await open_client(uvicorn) for _ in range(59)]
    await asyncio.sleep(3)  # past a lease time: live connections keep their slots
    await expect_at_capacity(uvicorn)
    for ws in [*on_uvicorn, extra, *more]:
        await ws.close()


def _spec_python_client() -> str:
    match = re.search(r"### Python Client\s+```python\n(.*?)```", SPEC.read_text(), re.S)
    assert match, "the spec's Python client example"
    return match.group(1)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_the_spec_python_client_runs_and_prints_an_opportunity(launch: Any, database_url: str) -> None:
    code = _spec_python_client()
    port = 8000
    if not _port_free(port):  # someone else's server: the same code on another port
        port = servers.free_port()
        code = code.replace("localhost:8000", f"localhost:{port}")
    # The example sends no Origin header, as non-browser clients do not; see docs/protocol.md.
    server = launch("uvicorn", port=port, WS_LEASE_KEY=f"test:ws:{uuid.uuid4().hex}")
    client = subprocess.Popen(  # noqa: ASYNC220 - started once, read through an executor
        [sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines: list[str] = []
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, client.stdout.readline)  # type: ignore[union-attr]
        lines.append(line)
        assert line.startswith("Connected: "), line
        await asyncio.sleep(1.0)  # let it subscribe
        token = uuid.uuid4().hex[:8]
        await asyncio.to_thread(
            servers.publish,
            database_url,
            [
                ("opportunity", opportunity(chain_id=56, profit_usd=500.0, pool_name=f"small-{token}")),
                ("opportunity", opportunity(chain_id=56, profit_usd=45230.5, pool_name=f"WBNB-BUSD-{token}")),
            ],
        )
        while True:
            line = await asyncio.wait_for(loop.run_in_executor(None, client.stdout.readline), TIMEOUT)  # type: ignore[union-attr]
            lines.append(line)
            if token in line:
                break
        assert line.strip() == f"Opportunity: WBNB-BUSD-{token} - $45230.5", lines
        assert server.process.poll() is None
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait(timeout=10)
