"""/healthz (liveness) and /readyz (readiness): JSON with reason codes, never exception text."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client, override_settings
from django.utils import timezone

from chains.models import Chain, ScanCursor

SECRET_HOST = "db-host-secret-name.invalid"


@pytest.mark.django_db
def test_healthz_is_liveness_only(client: Client) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


@pytest.mark.django_db
def test_readyz_ok_when_database_and_redis_answer(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["reasons"] == []
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"


@pytest.mark.django_db
def test_readyz_redis_down_gives_a_reason_code_and_no_exception_text(client: Client) -> None:
    with override_settings(REDIS_URL=f"redis://:hunter2@{SECRET_HOST}:1/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["reasons"] == ["redis_unavailable"]
    assert body["checks"]["redis"] == "unavailable" and body["checks"]["database"] == "ok"
    text = response.content.decode()
    assert SECRET_HOST not in text and "hunter2" not in text and "Error" not in text


@pytest.mark.django_db
def test_readyz_database_down_gives_a_reason_code_and_no_exception_text(client: Client) -> None:
    # The fault is injected at the database driver boundary: every query fails as a dead server's would.
    refused: list[str] = []

    def refuse(execute: Any, sql: str, params: Any, _many: bool, context: Any) -> Any:
        refused.append(sql)
        raise OperationalError(f'connection to server at "{SECRET_HOST}" failed: password "hunter2" refused')

    with connection.execute_wrapper(refuse):
        response = client.get("/readyz")
    assert refused, "the readiness check never reached the database"
    assert response.status_code == 503
    body = response.json()
    assert body["reasons"] == ["database_unavailable"] and body["checks"]["database"] == "unavailable"
    assert "scans" not in body["checks"]
    text = response.content.decode()
    assert SECRET_HOST not in text and "hunter2" not in text


@pytest.mark.django_db
def test_readyz_names_a_lagging_chain(client: Client) -> None:
    Chain.objects.create(chain_id=56, name="BSC", native_symbol="BNB", block_time=3)
    cursor = ScanCursor.objects.create(chain_id=56, kind="opportunities", block_number=100, block_hash="0x" + "1" * 64)
    with override_settings(READYZ_MAX_LAG_BLOCKS=10):
        ScanCursor.objects.filter(pk=cursor.pk).update(head_block_number=105)
        assert client.get("/readyz").status_code == 200
        ScanCursor.objects.filter(pk=cursor.pk).update(head_block_number=111)
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["reasons"] == ["scan_lagging"]
    [scan] = body["checks"]["scans"]
    assert (scan["chain_id"], scan["kind"], scan["lag_blocks"], scan["status"]) == (56, "opportunities", 11, "lagging")


@pytest.mark.django_db
def test_readyz_names_a_stopped_scanner_whose_last_lag_was_small(client: Client) -> None:
    Chain.objects.create(chain_id=56, name="BSC", native_symbol="BNB", block_time=3)
    cursor = ScanCursor.objects.create(
        chain_id=56, kind="transactions", block_number=100, block_hash="0x" + "1" * 64, head_block_number=100
    )
    with override_settings(READYZ_MAX_STALE_SECONDS=300):
        assert client.get("/readyz").status_code == 200
        # .update() leaves auto_now alone: the cursor last moved ten minutes ago, lag 0 then.
        ScanCursor.objects.filter(pk=cursor.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["reasons"] == ["scan_stalled"]
    [scan] = body["checks"]["scans"]
    assert (scan["kind"], scan["lag_blocks"], scan["status"]) == ("transactions", 0, "stalled")
    assert scan["idle_seconds"] >= 600
