from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from tests.alerts.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fast_alerts(receiver: Receiver) -> Iterator[None]:
    """Local destinations allowed, short timeouts, the fake Telegram API at the receiver."""
    with override_settings(
        ALERTS_ALLOW_PRIVATE_DESTINATIONS=True,
        ALERTS_HTTP_TIMEOUT_SECONDS=0.5,
        ALERTS_MAX_ATTEMPTS=3,
        ALERTS_BACKOFF_BASE_SECONDS=0.01,
        ALERTS_TELEGRAM_API_BASE=receiver.base,
    ):
        yield


@pytest.fixture(autouse=True)
def alerts_redis_clean(django_db_setup: None) -> Iterator[None]:
    """Forget rate-limit and claim keys of earlier runs: a test database of the same name reuses rule
    ids, and a shared Redis (CI's) keeps an hour's counters between runs. After django_db_setup, so the
    keys are those of the test database."""
    from alerts import services

    client = services._redis()
    pattern = services._key("*")
    for key in client.scan_iter(match=pattern, count=1000):
        client.delete(key)
    yield
