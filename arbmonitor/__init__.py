"""ArbMonitor: real-time DEX arbitrage monitor."""

from __future__ import annotations

from arbmonitor.celery import app as celery_app

__all__ = ["celery_app"]
