"""Fixtures of the opportunity scanner's tests; loads the devnet plugin unless the top-level conftest did."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("devnet.pytest_plugin"):
        config.pluginmanager.import_plugin("devnet.pytest_plugin")


@pytest.fixture(autouse=True)
def _fresh_markets() -> None:
    """Each test starts without cached in-memory markets (they live per process)."""
    from opportunities.scanner import market_forget

    market_forget()
