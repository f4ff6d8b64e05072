"""The Celery app. Beat's schedule is built from the enabled chains' block times."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery

from arbmonitor import metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbmonitor.settings")

app = Celery("arbmonitor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
metrics.celery_connect()

logger = logging.getLogger(__name__)

# Per-chain periodic tasks: (task name, schedule key prefix). Each runs once per
# block interval; a per-chain lock inside the task keeps runs from overlapping.
CHAIN_SCAN_TASKS: list[tuple[str, str]] = [
    ("opportunities.tasks.scan_pools", "scan-pools"),
    ("transactions.tasks.scan_transactions", "scan-transactions"),
]


def beat_schedule_for(chains: list[Any], *, interval_seconds: float | None = None) -> dict[str, dict[str, Any]]:
    """One entry per (enabled chain, scan task), firing every block interval (or ``interval_seconds``).

    ``chains`` are registry entries with ``chain_id`` and ``block_time``.
    ``interval_seconds`` (SCAN_BEAT_INTERVAL_SECONDS; 0 or None = the chain's
    block time) slows beat down when the head watcher triggers the scans and
    beat is only the safety net. The task expires after two intervals: a run
    that could not start by then is dropped rather than piling up behind a slow worker.
    """
    schedule: dict[str, dict[str, Any]] = {}
    for chain in chains:
        interval = max(float(interval_seconds or chain.block_time), 0.2)
        for task, prefix in CHAIN_SCAN_TASKS:
            schedule[f"{prefix}-{chain.chain_id}"] = {
                "task": task,
                "schedule": interval,
                "args": (chain.chain_id,),
                "options": {"expires": interval * 2},
            }
    return schedule


def alerts_beat_schedule(sweep_seconds: float) -> dict[str, dict[str, Any]]:
    """The alerts sweeper: due digests, claims of dead workers, lost delivery tasks."""
    return {
        "alerts-sweep": {"task": "alerts.tasks.sweep", "schedule": sweep_seconds, "options": {"expires": sweep_seconds}}
    }


@app.on_after_configure.connect
def _install_beat_schedule(sender: Celery, **_: Any) -> None:
    from django.conf import settings

    from chains.config import registry_enabled_chains

    schedule = alerts_beat_schedule(float(settings.ALERTS_SWEEP_SECONDS))
    try:
        chains = registry_enabled_chains()
    except Exception as exc:  # a beat without chains is useless, but a worker is fine
        logger.warning("no chain registry loaded, beat schedule has only the alerts sweeper: %s", exc)
        chains = []
    schedule.update(beat_schedule_for(chains, interval_seconds=float(settings.SCAN_BEAT_INTERVAL_SECONDS)))
    sender.conf.beat_schedule = schedule
