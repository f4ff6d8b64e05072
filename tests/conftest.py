"""Suite-wide fixtures.

The embedded Redis comes from the ``arbmonitor.testing`` plugin (loaded with -p in
pyproject.toml, before the settings are read); the devnet fixtures (``devnet_56``,
``devnet_137``, …) from ``devnet.pytest_plugin``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["devnet.pytest_plugin"]


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture(scope="session", autouse=True)
def _close_the_async_threads_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """Close the database connection that ``database_sync_to_async`` opened in asgiref's worker thread.

    Consumers reach the ORM through that single shared thread; its connection outlives
    the tests, and PostgreSQL then refuses to drop the test database ("being accessed
    by other users"). Depending on ``django_db_setup`` makes this run before the drop.
    """
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    request.getfixturevalue("django_db_setup")
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=30)
