"""What the alerts app does when scanners store rows: count them, and queue one cheap matching task.

The write path sends ``chains.signals.detections_committed`` after its transaction commits. The
receiver does no matching and no I/O other than one indexed query and one Redis publish, so the
scan path never waits on a destination. If the publish fails or the process dies before it, the
sweeper (``services.detections_rematch``) matches those rows once they are settled.
"""

from __future__ import annotations

import logging
from typing import Any

from arbmonitor import metrics

logger = logging.getLogger(__name__)

_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def detections_committed_receiver(sender: Any, *, kind: str, chain_id: int, rows: list[Any], **_: Any) -> None:
    metrics.detections_stored(kind=kind, chain_id=chain_id, count=len(rows))
    ids = [row.pk for row in rows if row.pk is not None]
    if not ids:
        return
    try:
        from alerts.models import AlertRule

        if not AlertRule.objects.filter(enabled=True, channel=kind).exists():
            return
        from alerts.tasks import match_detections

        match_detections.apply_async((kind, ids), retry=True, retry_policy=_RETRY_POLICY)
    except Exception as exc:
        metrics.alert_enqueue_failed()
        logger.error("alerts for %d %s of chain %s not queued: %s", len(ids), kind, chain_id, type(exc).__name__)


def connect() -> None:
    from chains.signals import detections_committed

    detections_committed.connect(detections_committed_receiver, dispatch_uid="alerts.detections_committed")
