"""Celery tasks of the transaction monitor: thin, they take a chain id and call the shared scan loop."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from chains.rpc import RpcUnavailable

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
    """One bounded run of the arbitrage monitor on one chain (lock, cursor and reorgs: ``chains.scanning``).

    After the run, open opportunities of the scanned blocks are linked to the
    arbitrages that followed them, whichever scanner stored its row first.
    """
    from transactions.monitor import monitor_scan

    report = monitor_scan(chain_id=chain_id)
    return {
        "chain_id": report.chain_id,
        "skipped": report.skipped,
        "from_block": report.from_block,
        "to_block": report.to_block,
        "head": report.head,
        "reorg": bool(report.reorg),
        "reason": report.reason,
    }
