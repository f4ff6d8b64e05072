"""Fixtures for the streaming tests: chains, isolated connection leases, the hub's lifetime."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streaming.chains import configured_chain_ids_cache_clear
from streaming.fanout import close_hub
from tests.factories import ChainFactory
from tests.streaming import servers


@pytest.fixture
def stream_settings(settings: Any) -> Any:
    # A lease key of its own: other test runs may share this Redis.
    settings.WS_LEASE_KEY = f"test:ws:connections:{uuid.uuid4().hex}"
    settings.WS_HISTORY_KEY = f"test:ws:history:{uuid.uuid4().hex}"
    settings.WS_HEARTBEAT_SECONDS = 30.0
    settings.WS_MAX_CONNECTIONS = 100
    settings.WS_MAX_SUBSCRIPTIONS = 32
    settings.WS_RATE_LIMIT_PER_SECOND = 20.0
    return settings


@pytest.fixture
def chains(transactional_db: None) -> list[int]:
    ChainFactory(chain_id=56)
    ChainFactory(chain_id=137, name="Polygon", native_symbol="POL", block_time=2.0, explorer_url="")
    configured_chain_ids_cache_clear()
    return [56, 137]


@pytest.fixture
async def stream(stream_settings: Any, chains: list[int]) -> AsyncIterator[Any]:
    """Everything a consumer test needs; closes this test's hub (groups, leases, Redis) at the end."""
    await close_hub()  # settings changed: the next connection starts a fresh hub
    yield stream_settings
    await close_hub()
    configured_chain_ids_cache_clear()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[], Any]]:
    """Open in-process clients (WebsocketCommunicator) past their welcome; all closed at the end."""
    from tests.streaming.test_consumer import open_client

    opened: list[Any] = []

    async def make() -> Any:
        client, welcome = await open_client()
        assert welcome["type"] == "connected"
        opened.append(client)
        return client

    yield make
    for client in opened:
        with contextlib.suppress(BaseException):  # already closed by the server
            await client.disconnect()


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database with chains 56 and 137 for real server processes."""
    return servers.prepare_database(tmp_path_factory.mktemp("ws-db") / "db.sqlite3")


@pytest.fixture
def launch(database_url: str, tmp_path: Path) -> Iterator[Any]:
    """Start uvicorn/daphne processes on free ports; all stopped at the end of the test."""
    started: list[servers.WebServer] = []

    def start(kind: str, port: int | None = None, args: tuple[str, ...] = (), **env: str) -> servers.WebServer:
        server = servers.start_server(kind, servers.base_env(database_url, **env), tmp_path, port, args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
