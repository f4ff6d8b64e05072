"""Suite-wide fixtures.

The embedded Redis comes from the ``arbmonitor.testing`` plugin (loaded with -p in
pyproject.toml, before the settings are read); the devnet fixtures (``devnet_56``,
``devnet_137``, …) from ``devnet.pytest_plugin``.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["devnet.pytest_plugin"]


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]
