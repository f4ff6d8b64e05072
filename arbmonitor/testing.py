"""Pytest plugin (loaded with ``-p arbmonitor.testing``): an embedded Redis for the suite.

It must run before pytest-django reads the settings, which happens before any
conftest is imported; a ``-p`` plugin is imported earlier than that. When
REDIS_URL is set (CI's second pass, a developer's own server) it does nothing.
"""

from __future__ import annotations

import atexit
import os

import pytest

from arbmonitor.embedded_redis import EmbeddedRedis

_embedded: EmbeddedRedis | None = None

# Production-like settings (DEBUG off) with what a test run needs to start.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")

if not os.environ.get("REDIS_URL"):
    _embedded = EmbeddedRedis().start()
    os.environ["REDIS_URL"] = _embedded.url
    os.environ["ARBMONITOR_EMBEDDED_REDIS"] = "1"
    atexit.register(_embedded.stop)


def pytest_report_header(config: pytest.Config) -> str:
    kind = "embedded redis-server" if _embedded else "REDIS_URL"
    return f"redis: {os.environ['REDIS_URL']} ({kind}); database: {os.environ.get('DATABASE_URL', 'sqlite (default)')}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded is not None:
        _embedded.stop()
