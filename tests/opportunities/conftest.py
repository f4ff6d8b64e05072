"""Fixtures of the opportunity scanner's tests (the devnet fixtures come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fresh_markets() -> None:
    """Each test starts without cached in-memory markets (they live per process)."""
    from opportunities.scanner import market_forget

    market_forget()


# The scanner's devnet tests: chain 56, everything a test does reverted afterwards.


@pytest.fixture
def net(devnet_56_fresh: Any) -> Any:
    return devnet_56_fresh


@pytest.fixture
def config(net: Any) -> Any:
    from tests.chains.conftest import config_for

    return config_for(net)


@pytest.fixture
def client(config: Any) -> Iterator[Any]:
    from tests.opportunities.devnet_support import client_for

    client = client_for(config)
    yield client
    client.close()
