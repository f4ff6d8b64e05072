"""WebSocket handshakes: browsers' Origins are checked, clients without one are let in."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from arbmonitor.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def _handshake(headers: list[tuple[bytes, bytes]]) -> bool:
    communicator = WebsocketCommunicator(application, "/ws/v1/stream", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    await communicator.disconnect()
    return connected


async def test_a_client_without_origin_is_accepted() -> None:
    assert await _handshake([(b"host", b"localhost")])


async def test_a_browser_from_an_allowed_host_is_accepted() -> None:
    assert await _handshake([(b"host", b"localhost"), (b"origin", b"http://localhost:8000")])


async def test_a_browser_from_another_site_is_refused() -> None:
    assert not await _handshake([(b"host", b"localhost"), (b"origin", b"https://evil.example")])
