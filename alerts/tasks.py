"""Alert tasks, all on the ``ALERTS_QUEUE`` queue (never the scanners'): match, deliver, sweep.

Each delivery is its own task, and a failed attempt is retried by a new task with a countdown
(no worker sleeps on a slow destination), so one destination that is down only costs its own
attempts, bounded by ALERTS_HTTP_TIMEOUT_SECONDS each.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from alerts import services

logger = logging.getLogger(__name__)


@shared_task(name="alerts.tasks.match_detections", acks_late=True, ignore_result=True)
def match_detections(kind: str, row_ids: list[int]) -> int:
    """Create the deliveries of one committed batch and queue the immediate ones."""
    created = services.detections_match(kind=kind, row_ids=row_ids)
    for delivery in created:
        deliver.delay(delivery.pk)
    return len(created)


@shared_task(name="alerts.tasks.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_id: int) -> dict[str, Any]:
    """One attempt of one delivery; a retry is a new task after the backoff."""
    report = services.delivery_attempt(delivery_id=delivery_id)
    if report.retry_in is not None:
        deliver.apply_async((delivery_id,), countdown=report.retry_in)
    return {"delivery": delivery_id, "claimed": report.claimed, "state": report.state}


@shared_task(name="alerts.tasks.sweep", acks_late=True, ignore_result=True)
def sweep() -> dict[str, int]:
    """Beat, every ALERTS_SWEEP_SECONDS: due digests, rows never matched, dead workers' claims, lost tasks."""
    digests = services.digests_build_due()
    caught_up = [d.pk for kind in ("opportunities", "transactions") for d in services.detections_rematch(kind=kind)]
    ids = [d.pk for d in digests] + caught_up + services.deliveries_sweep()
    for delivery_id in ids:
        deliver.delay(delivery_id)
    return {"digests": len(digests), "queued": len(ids)}
