"""The head watcher against a real anvil: new heads over WebSocket and over HTTP polling trigger
both scans once per head; a dropped WebSocket reconnects; a refused subscription falls back to
polling; a trigger that lands while a scan holds the lock is not lost."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve

from chains.config import ChainConfig
from chains.models import ScanCursor
from scanning.headwatch import SCAN_KINDS, HeadWatcher, HeadWatchOptions, ScanProgress
from scanning.loop import ScanReport, chain_lock, scan_run
from tests.chains.conftest import client_for, config_for
from tests.chains.test_scanning import Recorder

pytestmark = [pytest.mark.integration]

FAST = HeadWatchOptions(poll_interval=0.02, recheck=0.02, reconnect_min=0.05, reconnect_max=0.5)
WAIT = 20.0  # generous: these waits end as soon as the behaviour shows


class Calls:
    """A trigger that records (kind, head) instead of enqueueing Celery tasks."""

    def __init__(self, then: Callable[[int, str, int], None] | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.then = then

    def __call__(self, chain_id: int, kind: str, head: int) -> None:
        with self.lock:
            self.calls.append((kind, head))
        if self.then is not None:
            self.then(chain_id, kind, head)

    def heads(self, kind: str = "pools") -> list[int]:
        with self.lock:
            return [h for k, h in self.calls if k == kind]


def caught_up(chain_id: int) -> dict[str, ScanProgress]:
    """Every scan already at any head: the follow-up never re-triggers."""
    return dict.fromkeys(SCAN_KINDS, ScanProgress(cursor=2**62, locked=False))


async def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def watching(watcher: HeadWatcher, body: Callable[[], Awaitable[None]]) -> None:
    task = asyncio.create_task(watcher.run())
    try:
        await body()
    finally:
        watcher.request_stop()
        await asyncio.wait_for(task, timeout=10)


async def mine(net: Any, n: int = 1) -> None:
    await asyncio.to_thread(net.mine, n)


def _watch(net: Any, config: ChainConfig, calls: Calls, **kwargs: Any) -> HeadWatcher:
    return HeadWatcher([config], trigger=calls, progress=kwargs.pop("progress", caught_up), options=FAST, **kwargs)


def test_new_heads_over_websocket_trigger_both_scans_once_each(net56: Any) -> None:
    config = config_for(net56)
    assert config.ws_urls, "the devnet manifest names anvil's WebSocket URL"
    calls = Calls()
    watcher = _watch(net56, config, calls)
    h0 = net56.block_number()

    async def body() -> None:
        await until(lambda: h0 in calls.heads() and watcher.watchers[56].mode == "ws", "the first head over WS")
        for n in (1, 2):
            await mine(net56)
            await until(lambda n=n: h0 + n in calls.heads("transactions"), f"head {h0 + n}")
        await mine(net56, 2)  # two blocks at once: newHeads announces both
        await until(lambda: h0 + 4 in calls.heads("transactions"), f"head {h0 + 4}")

    asyncio.run(watching(watcher, body))
    expected = [h0, h0 + 1, h0 + 2, h0 + 3, h0 + 4]
    assert calls.heads("pools") == expected
    assert calls.heads("transactions") == expected


def test_new_heads_by_http_polling_trigger_both_scans_once_each(net56: Any) -> None:
    config = replace(config_for(net56), ws_urls=())
    calls = Calls()
    watcher = _watch(net56, config, calls)
    h0 = net56.block_number()

    async def body() -> None:
        await until(lambda: h0 in calls.heads("transactions"), "the first head by polling")
        assert watcher.watchers[56].mode == "polling"
        for n in (1, 2, 3):
            await mine(net56)
            await until(lambda n=n: h0 + n in calls.heads("transactions"), f"head {h0 + n}")
        await asyncio.sleep(0.2)  # several more polls of an unchanged head: no more triggers

    asyncio.run(watching(watcher, body))
    assert calls.heads("pools") == [h0, h0 + 1, h0 + 2, h0 + 3]
    assert calls.heads("transactions") == [h0, h0 + 1, h0 + 2, h0 + 3]


def test_endpoint_refusing_subscriptions_falls_back_to_polling(net56: Any) -> None:
    async def refuse(conn: ServerConnection) -> None:
        async for raw in conn:
            request = json.loads(raw)
            error = {"code": -32601, "message": "the method eth_subscribe does not exist/is not available"}
            if request["method"] == "eth_subscribe":
                await conn.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}))

    calls = Calls()

    async def scenario() -> None:
        async with serve(refuse, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            config = replace(config_for(net56), ws_urls=(f"ws://127.0.0.1:{port}",))
            watcher = _watch(net56, config, calls)
            h0 = net56.block_number()

            async def body() -> None:
                await until(lambda: watcher.watchers[56].mode == "polling", "the fallback to polling")
                await mine(net56)
                await until(lambda: h0 + 1 in calls.heads("transactions"), f"head {h0 + 1}")

            await watching(watcher, body)

    asyncio.run(scenario())
    assert calls.heads("pools") == sorted(set(calls.heads("pools")))


class DroppingProxy:
    """A WebSocket proxy to anvil whose connections the test can drop."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.connections: list[ServerConnection] = []

    async def handle(self, conn: ServerConnection) -> None:
        self.connections.append(conn)
        async with ws_connect(self.upstream) as up:

            async def pipe(source: Any, target: Any) -> None:
                async for message in source:
                    await target.send(message)

            _, pending = await asyncio.wait(
                [asyncio.create_task(pipe(conn, up)), asyncio.create_task(pipe(up, conn))],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in pending:
                task.cancel()

    async def drop_all(self) -> None:
        for conn in self.connections:
            await conn.close()


def test_websocket_drop_reconnects_and_catches_up(net56: Any) -> None:
    calls = Calls()
    proxy = DroppingProxy(config_for(net56).ws_urls[0])
    h0 = net56.block_number()

    async def scenario() -> None:
        async with serve(proxy.handle, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            # No HTTP URL: the heads can only come over the (re)connected WebSocket.
            config = replace(config_for(net56), ws_urls=(f"ws://127.0.0.1:{port}",), rpc_urls=())
            watcher = _watch(net56, config, calls)
            chain = watcher.watchers[56]

            async def body() -> None:
                await until(lambda: h0 in calls.heads() and chain.mode == "ws", "the first head over WS")
                await proxy.drop_all()
                await until(lambda: chain.stats.reconnects >= 1, "the drop to be noticed")
                await mine(net56)  # mined while (re)connecting: the catch-up eth_blockNumber finds it
                await until(lambda: h0 + 1 in calls.heads("transactions"), f"head {h0 + 1}")
                await until(lambda: len(proxy.connections) == 2 and chain.mode == "ws", "the new subscription")
                await mine(net56)
                await until(lambda: h0 + 2 in calls.heads("transactions"), f"head {h0 + 2}")

            await watching(watcher, body)

    asyncio.run(scenario())
    assert calls.heads("pools") == [h0, h0 + 1, h0 + 2]


@pytest.mark.django_db(transaction=True)
def test_trigger_while_a_scan_holds_the_lock_is_not_lost(net56: Any) -> None:
    """The trigger's scan finds the lock held and exits; once the lock is free, the watcher
    sees the cursor lagging behind the head it saw and triggers again, and the block is scanned."""
    head = net56.block_number()
    client = client_for(config_for(net56))
    recorder = Recorder(kind="transactions")
    scan_run(56, recorder, config=config_for(net56, scan_start_block=head), client=client)
    assert ScanCursor.objects.get(chain_id=56, kind="transactions").block_number == head
    config = config_for(net56)
    reports: list[ScanReport] = []

    def scan(chain_id: int, kind: str, seen: int) -> None:  # what the Celery task does
        reports.append(scan_run(chain_id, recorder, config=config, client=client))

    calls = Calls(then=scan)
    watcher = HeadWatcher(
        [replace(config, ws_urls=())], trigger=calls, options=FAST, kinds=("transactions",)
    )  # the real progress reader: ScanCursor rows and the Redis lock

    async def body() -> None:
        await until(lambda: len(reports) == 1, "the first head's scan to end")
        with chain_lock(56, "transactions") as acquired:  # a scan is running
            assert acquired
            await mine(net56)
            await until(lambda: head + 1 in calls.heads("transactions"), f"head {head + 1}")
            await until(lambda: any(r.skipped for r in reports), "the triggered scan to find the lock held")
            assert head + 1 not in recorder.blocks
        await until(lambda: head + 1 in recorder.blocks, f"block {head + 1} scanned after the lock was released")

    try:
        asyncio.run(watching(watcher, body))
    finally:
        client.close()
    assert ScanCursor.objects.get(chain_id=56, kind="transactions").block_number == head + 1
    assert recorder.blocks.count(head + 1) == 1
    assert watcher.watchers[56].stats.retriggers >= 1
