"""Celery tasks of the transaction monitor: thin, they take a chain id and call the shared scan loop."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from evm.rpc import RpcUnavailable

logger = logging.getLogger(__name__)


@shared_task(
    name="transactions.tasks.scan_transactions",
    autoretry_for=(RpcUnavailable,),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=3,
    ignore_result=True,
)
def scan_transactions(chain_id: int) -> dict[str, Any]:
    """One bounded run of the arbitrage monitor on one chain (lock, cursor and reorgs: ``scanning.loop``);
    returns the range and the run's counts (Celery logs them)."""
    from transactions.monitor import monitor_scan

    report = monitor_scan(chain_id=chain_id)
    return report.task_result(**report.extra)
