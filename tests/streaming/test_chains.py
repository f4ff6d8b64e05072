"""Which chains a web process serves: the registry's and the database's, from the moment it starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async

from streaming.broadcast import broadcast_opportunity
from streaming.chains import configured_chain_ids, configured_chain_ids_cache_clear
from streaming.fanout import close_hub
from tests.factories import ChainFactory
from tests.streaming.helpers import opportunity
from tests.streaming.test_consumer import open_client, receive_notifications, subscribe

BSC_REGISTRY = Path(__file__).resolve().parents[2] / "chains" / "registry" / "bsc.json"


@pytest.fixture
async def registry_only(stream_settings: Any, transactional_db: None) -> AsyncIterator[Any]:
    """The registry names chain 56; the database has no chain yet (no worker has synced it)."""
    stream_settings.CHAIN_REGISTRY_FILES = [str(BSC_REGISTRY)]
    stream_settings.ENABLED_CHAINS = []
    configured_chain_ids_cache_clear()
    await close_hub()
    yield stream_settings
    await close_hub()
    configured_chain_ids_cache_clear()


@pytest.mark.usefixtures("registry_only")
async def test_the_registry_s_chains_and_the_database_s_are_served() -> None:
    assert await configured_chain_ids() == {56}
    await database_sync_to_async(ChainFactory)(
        chain_id=137, name="Polygon", native_symbol="POL", block_time=2.0, explorer_url=""
    )
    configured_chain_ids_cache_clear()
    assert await configured_chain_ids() == {56, 137}


@pytest.mark.usefixtures("registry_only")
async def test_a_web_process_started_before_the_first_registry_sync_streams_the_first_scan() -> None:
    # The fault (issue 11): the web process comes up on a database the workers have not synced yet; it
    # used to join a chain's groups only on its next maintenance round (10 s), and the first scans'
    # notifications, published to groups nobody had joined, were lost without a notice.
    client, welcome = await open_client()
    try:
        assert welcome["type"] == "connected"
        await subscribe(client, "opportunities")
        broadcast_opportunity(opportunity(pool_name="first-scan"))  # chain 56
        received = await receive_notifications(client)
    finally:
        await client.disconnect()
    assert [m["data"]["pool_name"] for m in received] == ["first-scan"]
