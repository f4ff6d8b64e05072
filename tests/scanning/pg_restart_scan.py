"""Run by ``test_infra_faults.py`` in its own process (``manage.py shell``), on a private PostgreSQL.

Both live scanners, 20 blocks a run, to the head; PostgreSQL is restarted (``pg_ctl restart -m
immediate``) inside write transactions (after a batch's rows were inserted, before the commit),
twice per scanner. Each faulted run must fail and leave the cursor and the rows as they were; the
next run resumes. Prints one JSON line: the faulted runs' checks and the rows stored.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from django.db import close_old_connections, connection

from chains.clients import chain_client
from chains.models import ScanCursor
from chains.signals import detections_written
from opportunities.models import Opportunity
from opportunities.scanner import pool_scan_run
from scanning.loop import chain_config_get, scan_run
from transactions.models import ArbitrageTransaction
from transactions.monitor import ArbitrageMonitor


def state() -> list[Any]:
    cursors = sorted(ScanCursor.objects.values_list("kind", "block_number", "block_hash"))
    opportunities = sorted(Opportunity.objects.values_list("pool_address", "block_number", "block_hash"))
    transactions = sorted(ArbitrageTransaction.objects.values_list("tx_hash", "block_hash"))
    return [cursors, opportunities, transactions]


def main() -> None:
    restart = os.environ["PG_RESTART_COMMAND"].split()
    restarts = {"pending": 0, "done": 0}

    def restart_inside_the_transaction(**_: Any) -> None:
        if restarts["pending"]:
            restarts["pending"] -= 1
            subprocess.run(restart, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            restarts["done"] += 1

    detections_written.connect(restart_inside_the_transaction, weak=False)
    config = chain_config_get(56)
    monitor = ArbitrageMonitor(config=config, client=chain_client(config))
    checks: list[dict[str, Any]] = []
    runs = [lambda: pool_scan_run(chain_id=56, max_blocks=20), lambda: scan_run(56, monitor, max_blocks=20)]
    at_head = [False, False]
    faulted = [0, 0]
    for step in range(400):
        which = step % 2
        fault = step >= 4 and faulted[which] < 2  # each scanner, twice, once the first runs are done
        close_old_connections()  # what Celery does around each task: a connection that broke is replaced
        before = state()
        restarts["pending"] = 1 if fault else 0
        try:
            report = runs[which]()
        except Exception as exc:  # the fault's error, whichever the driver raises
            connection.close()
            faulted[which] += 1
            checks.append({"step": step, "error": type(exc).__name__, "unchanged": state() == before,
                           "restarted": restarts["done"]})  # fmt: skip
            continue
        restarts["pending"] = 0  # the run created no row: nothing to fault inside it (the next run is)
        at_head[which] = report.to_block in (None, report.head)
        if all(at_head) and faulted == [2, 2]:
            break
    _, opportunities, transactions = state()
    print(json.dumps({"checks": checks, "restarts": restarts["done"], "rows": [opportunities, transactions]}))


main()
