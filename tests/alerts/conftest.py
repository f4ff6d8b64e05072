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
