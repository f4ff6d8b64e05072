"""Fixtures for the transaction monitor: the devnet plugin, a chain registered from a devnet manifest."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("devnet.pytest_plugin"):
        config.pluginmanager.import_plugin("devnet.pytest_plugin")


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
