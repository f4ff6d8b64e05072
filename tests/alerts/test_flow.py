"""From the write path's signal to the destination; the admin's delivery log and test action; the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from alerts.api import api_key_create
from alerts.models import AlertAttempt, AlertDelivery, AlertRule
from arbmonitor.celery import app as celery_app
from opportunities.services import opportunity_record_many
from tests.alerts.receiver import Receiver
from tests.factories import PoolFactory
from tests.opportunities.test_services import draft

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_alerts")]


@pytest.fixture
def eager() -> Iterator[None]:
    """Celery runs tasks in this process (the worker-process path has its own test)."""
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


@pytest.mark.usefixtures("eager")
def test_stored_rows_reach_the_webhook_after_commit(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    rule = AlertRule.objects.create(
        name="pool watch", channel="opportunities", destination="webhook", url=f"{receiver.base}/hook/flow"
    )
    pool = PoolFactory()
    AlertRule.objects.filter(pk=rule.pk).update(pool_address=pool.address.lower())
    other = PoolFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        stored = opportunity_record_many(drafts=[draft(pool, 100), draft(other, 100)], broadcast=False)
    assert receiver.under("/") == []  # nothing before the commit
    for callback in callbacks:
        callback()
    (request,) = receiver.wait_for(1, prefix="/hook/flow")
    assert request.json()["data"]["id"] == stored[0].pk and request.json()["data"]["pool_address"] == pool.address
    assert AlertDelivery.objects.get().state == AlertDelivery.State.SENT


def test_admin_send_test_alert_and_the_attempt_log(admin_client: Client, receiver: Receiver) -> None:
    rule = AlertRule.objects.create(
        name="to discord", channel="transactions", destination="discord", url=f"{receiver.base}/api/webhooks/1/t"
    )
    response = admin_client.post(
        "/admin/alerts/alertrule/", {"action": "send_test_alert", "_selected_action": [rule.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "test alert sent" in response.content.decode()
    (request,) = receiver.under("/api/webhooks/1/t")
    assert "test alert" in request.json()["content"]
    delivery = AlertDelivery.objects.get(rule=rule, kind="test")
    page = admin_client.get(f"/admin/alerts/alertdelivery/{delivery.pk}/change/").content.decode()
    assert "204" in page and AlertAttempt.objects.get(delivery=delivery).outcome == "ok"


def test_admin_test_alert_reports_a_failure(admin_client: Client, receiver: Receiver) -> None:
    receiver.script("/hook/down", (503, {}, {}))
    rule = AlertRule.objects.create(
        name="down", channel="transactions", destination="webhook", url=f"{receiver.base}/hook/down"
    )
    response = admin_client.post(
        "/admin/alerts/alertrule/", {"action": "send_test_alert", "_selected_action": [rule.pk]}, follow=True
    )
    assert "not delivered (HTTP 503" in response.content.decode()
    assert AlertDelivery.objects.get(rule=rule).state == AlertDelivery.State.RETRYING


def _api(client: Client, method: str, path: str, key: str | None, body: Any = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    data = json.dumps(body) if body is not None else ""
    return getattr(client, method)(path, data=data, content_type="application/json", **headers)


def test_api_manages_a_keys_own_rules_and_never_shows_secrets(client: Client) -> None:
    _, key = api_key_create(name="trader")
    _, other = api_key_create(name="someone else")
    assert _api(client, "get", "/api/v1/alerts/rules", None).status_code == 401
    assert _api(client, "get", "/api/v1/alerts/rules", "arb_wrong").status_code == 401

    bad = _api(client, "post", "/api/v1/alerts/rules", key, {"name": "x", "channel": "nope", "destination": "webhook"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"channel", "url"}

    created = _api(
        client,
        "post",
        "/api/v1/alerts/rules",
        key,
        {
            "name": "3+ swaps on BSC",
            "channel": "transactions",
            "chain_id": 56,
            "min_profit": 100,
            "min_swaps": 3,
            "bot_address": "0x" + "AB" * 20,
            "destination": "telegram",
            "telegram_bot_token": "123:SECRET",
            "telegram_chat_id": "42",
            "digest_minutes": 15,
        },
    )
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["telegram_bot_token_set"] is True and "SECRET" not in created.content.decode()
    assert rule["bot_address"] == "0x" + "ab" * 20 and rule["min_profit"] == 100.0

    hook = _api(
        client,
        "post",
        "/api/v1/alerts/rules",
        key,
        {"name": "hook", "channel": "opportunities", "destination": "webhook", "url": "https://example.com/h"},
    ).json()
    assert len(hook["secret"]) > 20  # generated, shown once
    assert "secret" not in _api(client, "get", f"/api/v1/alerts/rules/{hook['id']}", key).json()
    assert _api(client, "delete", f"/api/v1/alerts/rules/{hook['id']}", key).status_code == 204

    listed = _api(client, "get", "/api/v1/alerts/rules", key).json()["results"]
    assert [r["id"] for r in listed] == [rule["id"]]
    assert _api(client, "get", "/api/v1/alerts/rules", other).json()["results"] == []
    assert _api(client, "get", f"/api/v1/alerts/rules/{rule['id']}", other).status_code == 404

    patched = _api(client, "patch", f"/api/v1/alerts/rules/{rule['id']}", key, {"enabled": False, "min_swaps": None})
    assert patched.status_code == 200 and patched.json()["enabled"] is False and patched.json()["min_swaps"] is None
    assert _api(client, "get", f"/api/v1/alerts/rules/{rule['id']}/deliveries", key).json() == {"results": []}
    assert _api(client, "delete", f"/api/v1/alerts/rules/{rule['id']}", key).status_code == 204
    assert not AlertRule.objects.exists()
