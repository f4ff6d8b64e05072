"""Alert matching and delivery: the logic behind the Celery tasks, the admin and the API.

Guarantees (README "Alerts"):

- Every stored row is matched: by the task its commit queued, or else by the sweeper's
  ``detections_rematch`` once the row is ALERTS_REMATCH_DELAY_SECONDS old.
- Matching is idempotent: one ``AlertDelivery`` per (rule, row), by the unique idempotency key,
  however often a batch is matched.
- Sending is at least once: a delivery is claimed (``pending``/``retrying`` → ``sending``, a
  conditional update), posted, then marked. A worker killed between the POST and the mark leaves
  the claim behind; the sweeper re-opens it after ``ALERTS_CLAIM_TIMEOUT_SECONDS`` and it is sent
  again with the same ``Idempotency-Key`` header, which the receiver uses to drop the repeat.
  Discord and Telegram have no such key: there a repeat after a crash shows twice.
- After ``ALERTS_MAX_ATTEMPTS`` failed attempts (or a permanent 4xx) the delivery is ``dead``.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts import destinations, matching
from alerts.models import AlertAttempt, AlertDelivery, AlertMatchCursor, AlertRule
from arbmonitor import metrics

logger = logging.getLogger(__name__)

State = AlertDelivery.State
OPEN_STATES = (State.PENDING, State.RETRYING)
DIGEST_MAX_ITEMS = 100  # a digest lists the best ones; "count" says how many matched


# --- matching ------------------------------------------------------------------------------------


def rule_filter(rule: AlertRule) -> matching.RuleFilter:
    from streaming.filters import SubscriptionFilter

    return matching.RuleFilter(
        rule_id=rule.pk,
        channel=rule.channel,
        filter=SubscriptionFilter(
            chain_id=rule.chain_id, min_profit=rule.min_profit, max_profit=rule.max_profit, min_swaps=rule.min_swaps
        ),
        pool=rule.pool_address.lower(),
        token=rule.token_address.lower(),
        bot=rule.bot_address.lower(),
    )


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A row to match: its detection view, the payload to send, when it was detected."""

    detection: matching.Detection
    payload: dict[str, Any]
    detected_at: datetime


def rows_load(*, kind: str, row_ids: Sequence[int]) -> list[StoredRow]:
    """The rows (still stored: a reorg may have removed some) as the matcher and the senders need them."""
    if kind == "opportunities":
        from opportunities.models import Opportunity
        from opportunities.serializers import opportunity_data

        rows: list[StoredRow] = []
        for opp in Opportunity.objects.filter(pk__in=row_ids).order_by("pk"):
            data = opportunity_data(opp)
            detection = matching.detection_from_opportunity(
                data, path_pools=opp.path_pools or [], path_tokens=opp.path_tokens or []
            )
            rows.append(StoredRow(detection, data, opp.detected_at))
        return rows
    if kind == "transactions":
        from transactions.models import ArbitrageTransaction
        from transactions.serializers import transaction_data

        return [
            StoredRow(matching.detection_from_transaction(data), data, tx.detected_at)
            for tx in ArbitrageTransaction.objects.filter(pk__in=row_ids).order_by("pk")
            for data in [transaction_data(tx)]
        ]
    raise ValueError(f"unknown kind {kind!r}")


def detections_match(*, kind: str, row_ids: Sequence[int]) -> list[AlertDelivery]:
    """Create the deliveries of every enabled rule these rows match; returns those created now.

    Idempotent: a (rule, row) pair that already has a delivery is skipped. Rows detected before
    a rule existed do not match it. Immediate deliveries are returned for the caller to queue.
    """
    rules = list(AlertRule.objects.filter(enabled=True, channel=kind))
    if not rules or not row_ids:
        return []
    rows = rows_load(kind=kind, row_ids=row_ids)
    by_id = {rule.pk: rule for rule in rules}
    stored = {row.detection.row_id: row for row in rows}
    created: list[AlertDelivery] = []
    for rule_id, detection in matching.matches([rule_filter(r) for r in rules], [r.detection for r in rows]):
        rule, row = by_id[rule_id], stored[detection.row_id]
        if row.detected_at < rule.created_at:
            continue
        delivery = _delivery_create(rule=rule, kind=kind, row=row)
        if delivery is not None:
            created.append(delivery)
    return [d for d in created if d.state == State.PENDING]


def _delivery_create(*, rule: AlertRule, kind: str, row: StoredRow) -> AlertDelivery | None:
    key = f"{rule.pk}:{kind}:{row.detection.row_id}"
    if AlertDelivery.objects.filter(idempotency_key=key).exists():
        return None
    state = State.DIGEST_PENDING if rule.digest_minutes else State.PENDING
    delivery = AlertDelivery(
        rule=rule,
        kind=kind,
        row_id=row.detection.row_id,
        idempotency_key=key,
        state=state,
        payload=row.payload,
        detected_at=row.detected_at,
    )
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
    except IntegrityError:  # a concurrent match of the same batch got there first
        return None
    if state == State.DIGEST_PENDING:
        metrics.alert_delivery(rule.destination, "digest_queued")
    elif rule.max_per_hour and not _rate_allows(rule):
        AlertDelivery.objects.filter(pk=delivery.pk).update(state=State.SUPPRESSED, last_error="rate limit")
        delivery.state = State.SUPPRESSED
        metrics.alert_delivery(rule.destination, "suppressed")
    return delivery


_REDIS: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    client = _REDIS.get(url)
    if client is None:
        client = _REDIS[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client


def _key(*parts: object) -> str:
    """A Redis key of this database's rules (several deployments or test databases may share a Redis)."""
    from django.db import connection

    database = hashlib.sha256(str(connection.settings_dict.get("NAME")).encode()).hexdigest()[:12]
    return ":".join(["arbmonitor:alerts", database, *map(str, parts)])


def _rate_allows(rule: AlertRule) -> bool:
    """At most ``max_per_hour`` immediate messages per clock hour (a Redis counter shared by all workers)."""
    window = int(time.time() // 3600)
    key = _key("rate", rule.pk, window)
    try:
        pipe = _redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, 3700)
        count = int(pipe.execute()[0])
    except Exception as exc:  # Redis down: rather send than silently drop
        logger.warning("alert rate limit unavailable for rule %s: %s", rule.pk, type(exc).__name__)
        return True
    return count <= rule.max_per_hour


# --- sending -------------------------------------------------------------------------------------


def _outgoing(delivery: AlertDelivery) -> destinations.Outgoing:
    rule = delivery.rule
    return destinations.Outgoing(
        destination=rule.destination,
        kind=delivery.kind,
        channel=rule.channel,
        rule_id=rule.pk,
        rule_name=rule.name,
        idempotency_key=delivery.idempotency_key,
        payload=delivery.payload,
        url=rule.url,
        secret=rule.secret,
        telegram_bot_token=rule.telegram_bot_token,
        telegram_chat_id=rule.telegram_chat_id,
    )


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Full-jitter exponential backoff after ``attempt`` (1-based) failures; Retry-After wins, capped."""
    cap = settings.ALERTS_BACKOFF_MAX_SECONDS
    if retry_after is not None:
        return min(retry_after, cap)
    return random.uniform(0, min(cap, settings.ALERTS_BACKOFF_BASE_SECONDS * (2 ** (attempt - 1))))


@dataclass(frozen=True, slots=True)
class AttemptReport:
    delivery_id: int
    claimed: bool
    state: str
    retry_in: float | None = None
    result: destinations.Result | None = None


def delivery_attempt(*, delivery_id: int) -> AttemptReport:
    """Claim a due delivery, send it once, log the attempt and move it on (sent / retrying / dead).

    Returns ``claimed=False`` when the delivery is not due or another worker holds it: a
    duplicate task message does nothing.
    """
    now = timezone.now()
    claimed = AlertDelivery.objects.filter(pk=delivery_id, state__in=OPEN_STATES, next_attempt_at__lte=now).update(
        state=State.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if claimed != 1:
        state = AlertDelivery.objects.filter(pk=delivery_id).values_list("state", flat=True).first()
        return AttemptReport(delivery_id, False, state or "missing")
    delivery = AlertDelivery.objects.select_related("rule").get(pk=delivery_id)
    destination = delivery.rule.destination
    mine = AlertDelivery.objects.filter(pk=delivery.pk, state=State.SENDING, claimed_at=now)
    resting = _destination_resting(delivery.rule_id, delivery.pk)
    if resting is not None and delivery.kind != AlertDelivery.Kind.TEST:
        # Another delivery to this destination just failed and is probing it: wait for its verdict
        # instead of spending a timeout of our own (this is not an attempt).
        mine.update(
            state=State.RETRYING,
            attempts=F("attempts") - 1,
            next_attempt_at=now + timedelta(seconds=resting),
            last_error="waiting: this destination failed moments ago",
        )
        metrics.alert_delivery(destination, "deferred")
        return AttemptReport(delivery.pk, True, State.RETRYING, retry_in=resting)
    result = destinations.send(_outgoing(delivery), timeout=settings.ALERTS_HTTP_TIMEOUT_SECONDS)
    AlertAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        started_at=now,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        outcome={"ok": "ok", "retry": "retry"}.get(result.outcome, "failed"),
        error=result.error[:300],
        retry_after_seconds=result.retry_after,
    )
    if result.outcome == "ok":
        _destination_rest(delivery.rule_id, delivery.pk, None)
        mine.update(state=State.SENT, sent_at=timezone.now(), last_error="")
        metrics.alert_delivery(destination, "sent")
        if delivery.detected_at is not None and delivery.kind in ("opportunities", "transactions"):
            metrics.detection_sent("alert", delivery.detected_at)
        return AttemptReport(delivery.pk, True, State.SENT, result=result)
    if result.outcome == "retry" and delivery.attempts < settings.ALERTS_MAX_ATTEMPTS:
        delay = backoff_seconds(delivery.attempts, result.retry_after)
        _destination_rest(delivery.rule_id, delivery.pk, delay)
        mine.update(
            state=State.RETRYING,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            last_error=result.error[:300],
        )
        metrics.alert_delivery(destination, "retry")
        return AttemptReport(delivery.pk, True, State.RETRYING, retry_in=delay, result=result)
    mine.update(state=State.DEAD, last_error=result.error[:300])
    metrics.alert_delivery(destination, "dead")
    logger.warning(
        "alert delivery %s is dead after %d attempt(s): %s", delivery.idempotency_key, delivery.attempts, result.error
    )
    return AttemptReport(delivery.pk, True, State.DEAD, result=result)


def _destination_resting(rule_id: int, delivery_id: int) -> float | None:
    """Seconds left while another delivery of this rule probes its failing destination; None if free."""
    key = _key("resting", rule_id)
    try:
        pipe = _redis().pipeline()
        pipe.get(key)
        pipe.pttl(key)
        prober, ttl_ms = pipe.execute()
    except redis.RedisError:
        return None
    if prober is None or int(prober) == delivery_id or ttl_ms <= 0:
        return None
    return ttl_ms / 1000


def _destination_rest(rule_id: int, delivery_id: int, seconds: float | None) -> None:
    """After a retryable failure, the rule's other deliveries wait ``seconds`` (None: it answers again)."""
    key = _key("resting", rule_id)
    try:
        if seconds is None:
            _redis().delete(key)
        elif seconds > 0:
            _redis().set(key, delivery_id, px=max(int(seconds * 1000), 1))
    except redis.RedisError as exc:
        logger.warning("alerts: destination state unavailable: %s", type(exc).__name__)


def delivery_test_create(*, rule: AlertRule) -> AlertDelivery:
    """A test message for ``rule`` ("send test alert"), due now."""
    return AlertDelivery.objects.create(
        rule=rule,
        kind=AlertDelivery.Kind.TEST,
        idempotency_key=f"{rule.pk}:test:{secrets.token_hex(8)}",
        payload={"message": "test alert", "rule": rule.name},
    )


def delivery_retry_now(*, delivery_ids: Iterable[int]) -> list[int]:
    """Re-open dead deliveries (an operator's decision): due now, with a fresh attempt budget."""
    ids = list(delivery_ids)
    AlertDelivery.objects.filter(pk__in=ids, state=State.DEAD).update(
        state=State.RETRYING, attempts=0, next_attempt_at=timezone.now()
    )
    return list(AlertDelivery.objects.filter(pk__in=ids, state=State.RETRYING).values_list("pk", flat=True))


# --- digests and the sweeper -----------------------------------------------------------------------


def digests_build_due(*, now: datetime | None = None) -> list[AlertDelivery]:
    """For each digest rule whose oldest waiting match is at least ``digest_minutes`` old: one digest delivery.

    The waiting matches move to ``digested`` (linked to the digest) in the same transaction, so
    each match is in exactly one digest.
    """
    now = now or timezone.now()
    built: list[AlertDelivery] = []
    for rule in AlertRule.objects.filter(enabled=True, digest_minutes__gt=0):
        waiting = AlertDelivery.objects.filter(rule=rule, state=State.DIGEST_PENDING)
        oldest = waiting.order_by("created_at", "pk").first()
        if oldest is None or oldest.created_at > now - timedelta(minutes=rule.digest_minutes):
            continue
        with transaction.atomic():
            digest, created = AlertDelivery.objects.get_or_create(
                idempotency_key=f"{rule.pk}:digest:{oldest.pk}",
                defaults={"rule": rule, "kind": AlertDelivery.Kind.DIGEST, "state": State.PENDING},
            )
            if not created:
                continue
            items = list(waiting.filter(created_at__lte=now).order_by("pk"))
            AlertDelivery.objects.filter(pk__in=[i.pk for i in items], state=State.DIGEST_PENDING).update(
                state=State.DIGESTED, digest=digest
            )
            profits = [float(i.payload.get("profit_usd", i.payload.get("profit_net_usd", 0))) for i in items]
            digest.payload = {
                "count": len(items),
                "minutes": rule.digest_minutes,
                "best_profit_usd": max(profits) if profits else None,
                "items": sorted((i.payload for i in items), key=_profit, reverse=True)[:DIGEST_MAX_ITEMS],
            }
            digest.detected_at = min((i.detected_at for i in items if i.detected_at), default=None)
            digest.save(update_fields=["payload", "detected_at"])
        metrics.alert_delivery(rule.destination, "digested", len(items))
        built.append(digest)
    return built


def _profit(data: dict[str, Any]) -> float:
    return float(data.get("profit_usd", data.get("profit_net_usd", 0)) or 0)


def deliveries_sweep(*, now: datetime | None = None) -> list[int]:
    """Deliveries to (re)queue: claims of dead workers re-opened, due ones whose task message was lost.

    Returns the ids to queue; queuing one twice is harmless (the claim lets one attempt run).
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.ALERTS_CLAIM_TIMEOUT_SECONDS)
    for delivery in AlertDelivery.objects.filter(state=State.SENDING, claimed_at__lt=stale).select_related("rule"):
        final = delivery.attempts >= settings.ALERTS_MAX_ATTEMPTS
        reopened = AlertDelivery.objects.filter(
            pk=delivery.pk, state=State.SENDING, claimed_at=delivery.claimed_at
        ).update(
            state=State.DEAD if final else State.RETRYING,
            next_attempt_at=now,
            last_error="worker lost while sending (result unknown)",
        )
        if reopened:
            logger.warning(
                "alert delivery %s: its worker died mid-send; %s",
                delivery.idempotency_key,
                "dead" if final else "sending again",
            )
            metrics.alert_delivery(delivery.rule.destination, "dead" if final else "retry")
    lost_before = now - timedelta(seconds=max(settings.ALERTS_SWEEP_SECONDS, 5.0))
    due = AlertDelivery.objects.filter(state__in=OPEN_STATES).filter(
        Q(next_attempt_at__lte=lost_before)
        | Q(state=State.RETRYING, next_attempt_at__lte=now, last_error__startswith="worker lost")
    )
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:1000])


REMATCH_BATCH = 5000


def _detection_model(kind: str) -> Any:
    if kind == "opportunities":
        from opportunities.models import Opportunity

        return Opportunity
    from transactions.models import ArbitrageTransaction

    return ArbitrageTransaction


def detections_rematch(*, kind: str, now: datetime | None = None) -> list[AlertDelivery]:
    """Match rows the receiver's task never matched (its publish failed, its process died after commit).

    Every row of ``kind`` above the cursor and detected at least ALERTS_REMATCH_DELAY_SECONDS ago
    is matched once more; the idempotency keys make that a no-op for rows already matched, so
    only what was lost becomes a delivery. The first run starts at the newest row (no history).
    """
    now = now or timezone.now()
    model = _detection_model(kind)
    cursor, created = AlertMatchCursor.objects.get_or_create(kind=kind)
    newest = model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    if created or not AlertRule.objects.filter(enabled=True, channel=kind).exists():
        AlertMatchCursor.objects.filter(pk=cursor.pk).update(last_row_id=max(newest, cursor.last_row_id))
        return []
    settled = now - timedelta(seconds=settings.ALERTS_REMATCH_DELAY_SECONDS)
    ids: list[int] = []
    rows = model.objects.filter(pk__gt=cursor.last_row_id).order_by("pk").values_list("pk", "detected_at")
    for pk, detected_at in rows[:REMATCH_BATCH]:
        if detected_at > settled:
            break  # the cursor never passes a row that is not settled yet
        ids.append(pk)
    if not ids:
        return []
    found = detections_match(kind=kind, row_ids=ids)
    AlertMatchCursor.objects.filter(pk=cursor.pk, last_row_id=cursor.last_row_id).update(last_row_id=ids[-1])
    if found:
        logger.warning("alerts: %d %s deliveries made by the sweeper (their batch was never matched)", len(found), kind)
    return found
