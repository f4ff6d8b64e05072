"""Alert matching and delivery against a real local HTTP server (webhook, Discord, Telegram shapes)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from alerts import services
from alerts.models import AlertAttempt, AlertDelivery, AlertRule
from alerts.signing import signature_header, signature_verify
from tests.alerts.receiver import Receiver
from tests.factories import ArbitrageTransactionFactory, OpportunityFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_alerts")]

State = AlertDelivery.State


def _rule(**fields: Any) -> AlertRule:
    defaults: dict[str, Any] = {"name": "big ones", "channel": "opportunities", "destination": "webhook"}
    defaults.update(fields)
    return AlertRule.objects.create(**defaults)


def _opportunity(**fields: Any) -> Any:
    return OpportunityFactory(detected_at=timezone.now(), **fields)


def _due(delivery_id: int) -> None:
    """Make a retrying delivery due now (the test plays the clock; the backoff itself is checked separately)."""
    AlertDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())


def test_webhook_is_signed_carries_the_key_and_the_row(receiver: Receiver) -> None:
    rule = _rule(url=f"{receiver.base}/hook/a", min_profit=100)
    small, big = _opportunity(profit_usd=Decimal("50")), _opportunity(profit_usd=Decimal("500"))
    created = services.detections_match(kind="opportunities", row_ids=[small.pk, big.pk])
    assert [d.row_id for d in created] == [big.pk]
    report = services.delivery_attempt(delivery_id=created[0].pk)
    assert report.state == State.SENT

    (request,) = receiver.under("/hook/a")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == f"{rule.pk}:opportunities:{big.pk}"
    assert signature_verify(rule.secret, request.headers["x-arbmonitor-signature"], request.body)
    assert not signature_verify("another secret", request.headers["x-arbmonitor-signature"], request.body)
    assert not signature_verify(rule.secret, request.headers["x-arbmonitor-signature"], request.body + b" ")
    doc = request.json()
    assert doc["type"] == "alert" and doc["rule"] == {"id": rule.pk, "name": "big ones"}
    assert doc["channel"] == "opportunities" and doc["data"]["id"] == big.pk and doc["data"]["profit_usd"] == 500.0
    attempt = AlertAttempt.objects.get(delivery_id=created[0].pk)
    assert (attempt.number, attempt.status_code, attempt.outcome) == (1, 200, "ok")


def test_signature_rejects_an_old_timestamp() -> None:
    body = b'{"x":1}'
    header = signature_header("s3cret", body, timestamp=1_000_000)
    assert signature_verify("s3cret", header, body, now=1_000_100)
    assert not signature_verify("s3cret", header, body, now=1_000_000 + 301)
    assert not signature_verify("s3cret", "v1=abc", body)


def test_matching_twice_makes_one_delivery_per_rule_and_row(receiver: Receiver) -> None:
    _rule(url=f"{receiver.base}/hook/a")
    _rule(url=f"{receiver.base}/hook/b", name="second")
    rows = [_opportunity().pk for _ in range(3)]
    first = services.detections_match(kind="opportunities", row_ids=rows)
    again = services.detections_match(kind="opportunities", row_ids=rows)
    assert len(first) == 6 and again == []
    assert AlertDelivery.objects.count() == 6


def test_discord_request_shape(receiver: Receiver) -> None:
    _rule(destination="discord", url=f"{receiver.base}/api/webhooks/123/tok-en")
    opp = _opportunity(pool_name="WBNB/USDT")
    (delivery,) = services.detections_match(kind="opportunities", row_ids=[opp.pk])
    assert services.delivery_attempt(delivery_id=delivery.pk).state == State.SENT
    (request,) = receiver.under("/api/webhooks/123/tok-en")
    body = request.json()
    assert set(body) == {"content", "username", "allowed_mentions"}
    assert "WBNB/USDT" in body["content"] and "$45,230.50" in body["content"] and len(body["content"]) <= 2000
    assert body["allowed_mentions"] == {"parse": []}
    assert AlertAttempt.objects.get(delivery=delivery).status_code == 204


def test_telegram_request_shape(receiver: Receiver) -> None:
    _rule(channel="transactions", destination="telegram", telegram_bot_token="123:ABC", telegram_chat_id="-100777")
    tx = ArbitrageTransactionFactory(detected_at=timezone.now())
    (delivery,) = services.detections_match(kind="transactions", row_ids=[tx.pk])
    assert services.delivery_attempt(delivery_id=delivery.pk).state == State.SENT
    (request,) = receiver.under("/bot123:ABC/sendMessage")
    body = request.json()
    assert body["chat_id"] == "-100777" and tx.tx_hash in body["text"] and "3 swaps" in body["text"]
    assert "parse_mode" not in body


def test_telegram_ok_false_is_not_success(receiver: Receiver) -> None:
    _rule(destination="telegram", telegram_bot_token="9:X", telegram_chat_id="1")
    receiver.script("/bot9:X", (200, {"Content-Type": "application/json"}, {"ok": False, "description": "odd"}))
    (delivery,) = services.detections_match(kind="opportunities", row_ids=[_opportunity().pk])
    assert services.delivery_attempt(delivery_id=delivery.pk).state == State.DEAD


def test_5xx_then_429_with_retry_after_then_success(receiver: Receiver) -> None:
    _rule(url=f"{receiver.base}/hook/flaky")
    receiver.script(
        "/hook/flaky",
        (503, {}, {"error": "down"}),
        (429, {"Retry-After": "7"}, {"error": "slow down"}),
    )
    (delivery,) = services.detections_match(kind="opportunities", row_ids=[_opportunity().pk])
    first = services.delivery_attempt(delivery_id=delivery.pk)
    assert first.state == State.RETRYING and first.retry_in is not None and first.retry_in <= 0.01
    _due(delivery.pk)
    second = services.delivery_attempt(delivery_id=delivery.pk)
    assert second.state == State.RETRYING and second.retry_in == 7.0  # Retry-After honoured
    row = AlertDelivery.objects.get(pk=delivery.pk)
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=5)
    assert services.delivery_attempt(delivery_id=delivery.pk).claimed is False  # not due: nothing sent
    _due(delivery.pk)
    assert services.delivery_attempt(delivery_id=delivery.pk).state == State.SENT

    log = list(AlertAttempt.objects.filter(delivery=delivery).values_list("number", "status_code", "outcome"))
    assert log == [(1, 503, "retry"), (2, 429, "retry"), (3, 200, "ok")]
    keys = {r.headers["idempotency-key"] for r in receiver.under("/hook/flaky")}
    assert len(receiver.under("/hook/flaky")) == 3 and len(keys) == 1


def test_timeouts_then_dead_letter_after_the_last_attempt(receiver: Receiver) -> None:
    _rule(url=f"{receiver.base}/hook/slow")
    receiver.script("/hook/slow", ("sleep", 1.5), (500, {}, {}), (502, {}, {}))
    (delivery,) = services.detections_match(kind="opportunities", row_ids=[_opportunity().pk])
    states = []
    for _ in range(3):
        states.append(services.delivery_attempt(delivery_id=delivery.pk).state)
        _due(delivery.pk)
    assert states == [State.RETRYING, State.RETRYING, State.DEAD]
    row = AlertDelivery.objects.get(pk=delivery.pk)
    assert row.attempts == 3 and row.last_error.startswith("HTTP 502")
    errors = list(AlertAttempt.objects.filter(delivery=delivery).values_list("error", flat=True))
    assert errors[0].startswith("timed out") and [e[:8] for e in errors[1:]] == ["HTTP 500", "HTTP 502"]
    assert services.delivery_attempt(delivery_id=delivery.pk).claimed is False  # dead stays dead


def test_a_permanent_4xx_is_dead_at_once(receiver: Receiver) -> None:
    _rule(url=f"{receiver.base}/hook/gone")
    receiver.script("/hook/gone", (404, {}, {"message": "Unknown Webhook"}))
    (delivery,) = services.detections_match(kind="opportunities", row_ids=[_opportunity().pk])
    report = services.delivery_attempt(delivery_id=delivery.pk)
    assert report.state == State.DEAD and report.result is not None and "Unknown Webhook" in report.result.error


def test_private_destinations_are_refused_unless_allowed(receiver: Receiver, settings: Any) -> None:
    settings.ALERTS_ALLOW_PRIVATE_DESTINATIONS = False
    _rule(url=f"{receiver.base}/hook/a")
    (delivery,) = services.detections_match(kind="opportunities", row_ids=[_opportunity().pk])
    assert services.delivery_attempt(delivery_id=delivery.pk).state == State.DEAD
    assert receiver.under("/") == []
    assert "non-public" in AlertDelivery.objects.get(pk=delivery.pk).last_error


def test_rate_limit_suppresses_past_the_hourly_budget(receiver: Receiver) -> None:
    _rule(url=f"{receiver.base}/hook/a", max_per_hour=2)
    created = services.detections_match(kind="opportunities", row_ids=[_opportunity().pk for _ in range(4)])
    assert len(created) == 2
    assert list(AlertDelivery.objects.order_by("pk").values_list("state", flat=True)) == [
        State.PENDING,
        State.PENDING,
        State.SUPPRESSED,
        State.SUPPRESSED,
    ]


def test_digest_sends_one_summary_per_window(receiver: Receiver) -> None:
    rule = _rule(url=f"{receiver.base}/hook/digest", digest_minutes=5)
    ids = [_opportunity(profit_usd=Decimal(p)).pk for p in ("10", "300", "20")]
    assert services.detections_match(kind="opportunities", row_ids=ids) == []  # nothing immediate
    assert services.digests_build_due() == []  # the window is not over
    (digest,) = services.digests_build_due(now=timezone.now() + timedelta(minutes=6))
    assert services.digests_build_due(now=timezone.now() + timedelta(minutes=6)) == []  # each match once
    assert services.delivery_attempt(delivery_id=digest.pk).state == State.SENT
    (request,) = receiver.under("/hook/digest")
    doc = request.json()
    assert doc["type"] == "digest" and doc["count"] == 3 and doc["minutes"] == 5
    assert [item["id"] for item in doc["items"]] == [ids[1], ids[2], ids[0]]  # best first
    assert AlertDelivery.objects.filter(rule=rule, state=State.DIGESTED, digest=digest).count() == 3


def test_sweeper_reopens_a_dead_workers_claim(receiver: Receiver, settings: Any) -> None:
    settings.ALERTS_CLAIM_TIMEOUT_SECONDS = 1
    _rule(url=f"{receiver.base}/hook/a")
    (delivery,) = services.detections_match(kind="opportunities", row_ids=[_opportunity().pk])
    # What a worker killed mid-send leaves behind: claimed, never marked.
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        state=State.SENDING, claimed_at=timezone.now() - timedelta(seconds=5), attempts=1
    )
    assert services.deliveries_sweep() == [delivery.pk]
    assert services.delivery_attempt(delivery_id=delivery.pk).state == State.SENT
    assert AlertDelivery.objects.get(pk=delivery.pk).attempts == 2


def test_rows_detected_before_a_rule_existed_do_not_match(receiver: Receiver) -> None:
    old = OpportunityFactory(detected_at=timezone.now() - timedelta(hours=1))
    _rule(url=f"{receiver.base}/hook/a")
    assert services.detections_match(kind="opportunities", row_ids=[old.pk]) == []


def test_sweeper_matches_rows_whose_batch_was_never_queued(receiver: Receiver) -> None:
    _rule(url=f"{receiver.base}/hook/a")
    assert services.detections_rematch(kind="opportunities") == []  # the first run starts at the newest row
    # Stored, but the receiver's publish never happened (Redis down, process killed after commit).
    lost = [_opportunity().pk for _ in range(2)]
    assert services.detections_rematch(kind="opportunities") == []  # not settled yet
    later = timezone.now() + timedelta(minutes=2)
    caught_up = services.detections_rematch(kind="opportunities", now=later)
    assert sorted(d.row_id for d in caught_up) == lost
    assert services.detections_rematch(kind="opportunities", now=later) == []  # each row once
    assert services.detections_match(kind="opportunities", row_ids=lost) == []  # and never twice


def test_a_failing_destination_is_probed_by_one_delivery_while_the_others_wait(
    receiver: Receiver, settings: Any
) -> None:
    settings.ALERTS_BACKOFF_BASE_SECONDS = 30
    _rule(url=f"{receiver.base}/hook/hang")
    other = _rule(url=f"{receiver.base}/hook/fine", name="other")
    receiver.script("/hook/hang", ("sleep", 1.5))
    rows = [_opportunity().pk for _ in range(3)]
    created = services.detections_match(kind="opportunities", row_ids=rows)
    hang = [d for d in created if d.rule_id != other.pk]
    fine = [d for d in created if d.rule_id == other.pk]

    probe = services.delivery_attempt(delivery_id=hang[0].pk)
    assert probe.state == State.RETRYING and probe.result is not None and probe.result.error.startswith("timed out")
    for delivery in hang[1:]:
        waiting = services.delivery_attempt(delivery_id=delivery.pk)
        assert waiting.state == State.RETRYING and waiting.result is None and waiting.retry_in is not None
    assert len(receiver.under("/hook/hang")) == 1  # one timeout spent, not three
    assert AlertDelivery.objects.get(pk=hang[1].pk).attempts == 0
    # Another rule's destination is not affected.
    assert [services.delivery_attempt(delivery_id=d.pk).state for d in fine] == [State.SENT] * 3

    _due(hang[0].pk)
    assert services.delivery_attempt(delivery_id=hang[0].pk).state == State.SENT  # the probe gets through
    for delivery in hang[1:]:
        _due(delivery.pk)
        assert services.delivery_attempt(delivery_id=delivery.pk).state == State.SENT
    assert len(receiver.under("/hook/hang")) == 4
