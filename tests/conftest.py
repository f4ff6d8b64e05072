"""Suite-wide fixtures. The embedded Redis comes from the ``arbmonitor.testing`` plugin."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]
