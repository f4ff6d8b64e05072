"""A reorg of depth 1..64 on anvil while WebSocket clients listen: the rows go, and the clients are told.

The chain is forked with ``evm_snapshot``; a branch with swaps (opportunities, arbitrages) in its
first blocks is mined and scanned, so the clients are sent its rows; then ``evm_revert`` and a
different, longer branch is mined. The next scans roll back to the common ancestor.

Checked: every orphaned row is removed; each client subscribed to the chain gets one ``retracted``
notice per channel listing exactly the orphaned rows' ids, after their notifications and before
any notification of the new branch; a client subscribed to another chain gets nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from chains.config import ChainConfig
from evm.rpc import ChainClient
from opportunities.models import Opportunity
from opportunities.scanner import pool_scan_run
from scanning.loop import scan_run
from streaming.broadcast import broadcast_flush
from streaming.chains import configured_chain_ids_cache_clear
from streaming.fanout import close_hub
from streaming.routing import websocket_urlpatterns
from tests.chains.conftest import config_for
from tests.factories import ChainFactory
from tests.opportunities.devnet_support import FAST
from transactions.models import ArbitrageTransaction
from transactions.monitor import ArbitrageMonitor

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

application = URLRouter(websocket_urlpatterns)
SIM = {"late_probability": 0.0}
TIMEOUT = 20
TYPES = {"opportunities": "opportunity", "transactions": "transaction"}


@pytest.fixture
async def hub(settings: Any) -> AsyncIterator[None]:
    settings.WS_LEASE_KEY = f"test:ws:connections:{uuid.uuid4().hex}"
    settings.WS_HISTORY_KEY = f"test:ws:history:{uuid.uuid4().hex}"  # its own numbering on a shared Redis
    settings.WS_HEARTBEAT_SECONDS = 300.0
    await close_hub()
    yield
    await close_hub()
    configured_chain_ids_cache_clear()


def scan_to_head(config: ChainConfig, client: ChainClient, monitor: ArbitrageMonitor) -> None:
    for _ in range(20):
        pools = pool_scan_run(chain_id=56, config=config, client=client, max_blocks=10_000)
        txs = scan_run(56, monitor, config=config, client=client, max_blocks=10_000)
        if pools.to_block in (None, pools.head) and txs.to_block in (None, txs.head):
            return
    raise AssertionError("the scanners never reached the head")


def ids_after(block: int) -> dict[str, list[int]]:
    return {
        "opportunities": sorted(Opportunity.objects.filter(block_number__gt=block).values_list("pk", flat=True)),
        "transactions": sorted(
            ArbitrageTransaction.objects.filter(block_number__gt=block).values_list("pk", flat=True)
        ),
    }


def stored_hashes_after(block: int) -> set[tuple[int, str]]:
    rows = [*Opportunity.objects.filter(block_number__gt=block).values_list("block_number", "block_hash")]
    rows += ArbitrageTransaction.objects.filter(block_number__gt=block).values_list("block_number", "block_hash")
    return {(int(n), str(h).lower()) for n, h in rows}


async def listen(**subscriptions: dict[str, Any]) -> WebsocketCommunicator:
    client = WebsocketCommunicator(application, "/ws/v1/stream")
    connected, _ = await client.connect(timeout=TIMEOUT)
    assert connected
    assert (await client.receive_json_from(timeout=TIMEOUT))["type"] == "connected"
    for channel, filters in subscriptions.items():
        await client.send_json_to({"type": "subscribe", "channel": channel, "filters": filters})
        assert (await client.receive_json_from(timeout=TIMEOUT))["type"] == "subscribed"
    return client


async def drain(client: WebsocketCommunicator) -> list[dict[str, Any]]:
    """Everything sent until the stream is quiet (the publisher flushed first)."""
    await asyncio.to_thread(broadcast_flush, 10)
    received = []
    while not await client.receive_nothing(timeout=0.5):  # a receive timeout would cancel the application
        received.append(await client.receive_json_from(timeout=TIMEOUT))
    return received


@pytest.mark.parametrize("depth", [1, 5, 23, 64])
async def test_a_reorg_removes_the_orphaned_rows_and_tells_the_clients(
    devnet_56_fresh: Any, hub: None, depth: int
) -> None:
    net = devnet_56_fresh
    config = config_for(net)
    client = ChainClient.from_config(config, **FAST)
    monitor = ArbitrageMonitor(config=config, client=client)
    clients: list[WebsocketCommunicator] = []
    try:
        await asyncio.to_thread(scan_to_head, config, client, monitor)  # registry, chains, reserves
        # Its notifications are sent before any client listens (else the tail of them, still on its way,
        # would reach the clients between their subscribe replies).
        assert await asyncio.to_thread(broadcast_flush, 10)
        await database_sync_to_async(ChainFactory)(chain_id=137, name="Polygon", native_symbol="POL")
        configured_chain_ids_cache_clear()
        everyone = await listen(opportunities={}, transactions={})
        on_56 = await listen(transactions={"chain_id": 56, "min_swaps": 2})
        elsewhere = await listen(opportunities={"chain_id": 137}, transactions={"chain_id": 137})
        clients += [everyone, on_56, elsewhere]

        # The branch that will be orphaned: swaps in its first (deepest) blocks, then empty blocks.
        fork = await asyncio.to_thread(net.snapshot)
        base = await asyncio.to_thread(net.block_number)
        busy = min(depth, 3)
        await asyncio.to_thread(net.simulate, busy, seed=200 + depth, **SIM)
        if depth > busy:
            await asyncio.to_thread(net.mine, depth - busy)
        assert await asyncio.to_thread(net.block_number) == base + depth
        await asyncio.to_thread(scan_to_head, config, client, monitor)
        orphaned = await database_sync_to_async(ids_after)(base)
        assert orphaned["opportunities"] or orphaned["transactions"], "the branch stored nothing: nothing to retract"

        # The other branch: one block longer, its own swaps.
        await asyncio.to_thread(net.revert, fork)
        await asyncio.to_thread(net.simulate, min(depth + 1, 2), seed=300 + depth, **SIM)
        if depth + 1 > 2:
            await asyncio.to_thread(net.mine, depth + 1 - 2)
        await asyncio.to_thread(scan_to_head, config, client, monitor)

        got = {name: await drain(c) for name, c in (("everyone", everyone), ("on_56", on_56), ("elsewhere", elsewhere))}
        survivors = await database_sync_to_async(ids_after)(base)
        canonical = {
            (h.number, h.hash.lower())
            for h in await asyncio.to_thread(client.get_block_headers, list(range(base + 1, base + depth + 2)))
        }
        stored_after = await database_sync_to_async(stored_hashes_after)(base)
    finally:
        for c in clients:
            with contextlib.suppress(BaseException):
                await c.disconnect()
        client.close()

    # The orphaned rows are gone; what is stored past the fork belongs to the new branch.
    for channel, ids in orphaned.items():
        assert not set(ids) & set(survivors[channel])
    assert stored_after <= canonical

    for channel, ids in orphaned.items():
        messages = got["everyone"]
        notices = [m for m in messages if m["type"] == "retracted" and m["channel"] == channel]
        if not ids:
            assert notices == []
            continue
        assert len(notices) == 1, notices
        (notice,) = notices
        assert notice["chain_id"] == 56 and notice["from_block"] == base + 1 and notice["reason"] == "reorg"
        assert notice["ids"] == ids and notice["timestamp"].endswith("Z")
        at = messages.index(notice)
        sent_before = [m["data"]["id"] for m in messages[:at] if m["type"] == TYPES[channel]]
        assert sorted(set(ids) & set(sent_before)) == ids  # each orphaned row was streamed before its retraction
        new_rows = set(survivors[channel])
        assert not [m for m in messages[:at] if m["type"] == TYPES[channel] and m["data"]["id"] in new_rows]
        assert sorted(m["data"]["id"] for m in messages[at:] if m["type"] == TYPES[channel]) == sorted(new_rows)

    # The notice is numbered like the notifications: no client is told of a gap that is not there.
    assert not [m for m in got["everyone"] + got["on_56"] if m["type"] == "error"]
    # Subscribed to transactions of chain 56 (whatever its other filters): told about the orphaned ones.
    narrow = [m for m in got["on_56"] if m["type"] == "retracted"]
    assert [n["channel"] for n in narrow] == (["transactions"] if orphaned["transactions"] else [])
    # Subscribed to another chain only: nothing about chain 56 at all.
    assert got["elsewhere"] == [], json.dumps(got["elsewhere"])[:500]
