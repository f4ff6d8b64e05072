"""Celery task of the pool scanner: thin, it takes a chain id and calls one service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from evm.rpc import RpcUnavailable

logger = logging.getLogger(__name__)


@shared_task(
    name="opportunities.tasks.scan_pools",
    # Every RPC endpoint down: retry a few times with backoff. Beat fires again every
    # block interval anyway, and an overlapping retry just finds the lock taken and exits.
    autoretry_for=(RpcUnavailable,),
    retry_backoff=True,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=3,
    ignore_result=True,
)
def scan_pools(chain_id: int) -> dict[str, Any]:
    """One bounded run of the pool scanner on one chain (lock, cursor and reorgs: ``scanning.loop``)."""
    from opportunities.scanner import pool_scan_run

    report = pool_scan_run(chain_id=chain_id)
    return report.task_result(lag=report.lag, opportunities=report.extra.get("opportunities", 0))
