"""Load the devnet plugin unless the top-level conftest already did."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # `pytest tests/devnet` without the repo root on sys.path
    sys.path.insert(0, _ROOT)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("devnet.pytest_plugin"):
        config.pluginmanager.import_plugin("devnet.pytest_plugin")
