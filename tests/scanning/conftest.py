"""Fixtures of the scanning layer's devnet tests; loads the devnet plugin unless the top-level conftest did."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("devnet.pytest_plugin"):
        config.pluginmanager.import_plugin("devnet.pytest_plugin")


@pytest.fixture(autouse=True)
def _fresh_markets() -> None:
    """Each test starts without cached in-memory markets (they live per process)."""
    from opportunities.scanner import market_forget

    market_forget()
