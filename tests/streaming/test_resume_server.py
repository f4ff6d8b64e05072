"""Resuming against real web processes: a client reconnects with ``since``, across a server restart."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.streaming import servers
from tests.streaming.helpers import opportunity
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
