"""Fixtures for the transaction monitor: a chain registered from a devnet manifest (devnet: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def scan_redis_clean() -> Iterator[None]:
    """No scan lock left over from another test."""
    from scanning.loop import redis_client

    def clear() -> None:
        client = redis_client()
        for key in client.scan_iter("arbmonitor:scan-lock:*"):
            client.delete(key)

    clear()
    yield
    clear()
