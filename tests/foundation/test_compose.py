"""docker/compose.yaml's beat health check against Celery's own schedule-file sync interval."""

from __future__ import annotations

import re
from pathlib import Path

from celery.beat import PersistentScheduler

COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"


def test_beat_health_check_allows_for_celerys_schedule_sync() -> None:
    """Beat writes the schedule file only every ``sync_every`` seconds (180): a threshold below that flaps."""
    text = COMPOSE.read_text()
    beat = text[text.index("\n  beat:") :]
    check = next(line for line in beat.splitlines() if "celerybeat-schedule" in line and "test:" in line)
    threshold = int(re.search(r"-lt (\d+)", check).group(1))  # type: ignore[union-attr]
    # Beat ticks at least once per block interval (its scan tasks), so the file is at most sync_every + a tick old.
    assert threshold >= PersistentScheduler.sync_every + 60
