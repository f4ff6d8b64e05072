"""``manage.py scan_pools``: the pool scanner without Celery (a one-off run, or a foreground loop)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chains.config import registry_enabled_chains
from evm.rpc import RpcError
from opportunities.scanner import pool_scan_run


class Command(BaseCommand):
    help = (
        "Scan pools for arbitrage opportunities: one bounded run per chain (--once), or every block "
        "interval until interrupted. Uses the same lock, cursor and reorg handling as the Celery task."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", type=int, action="append", dest="chains", help="chain id (repeatable)")
        parser.add_argument("--once", action="store_true", help="one run per chain, then exit")
        parser.add_argument("--catch-up", action="store_true", help="with --once: repeat until at the head")
        parser.add_argument("--max-blocks", type=int, default=None, help="blocks per run (SCAN_MAX_BLOCKS_PER_RUN)")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: self.stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.run(**options)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def run(self, **options: Any) -> None:
        configs = {c.chain_id: c for c in registry_enabled_chains()}
        chain_ids = options["chains"] or list(configs)
        unknown = [c for c in chain_ids if c not in configs]
        if unknown:
            self.stderr.write(f"unknown chain(s) {unknown}; the registry has {sorted(configs)}")
            return
        interval = min(configs[c].block_time for c in chain_ids)
        while not self.stop.is_set():
            caught_up = all(self.scan_chain(c, max_blocks=options["max_blocks"]) for c in chain_ids)
            if options["once"] and (caught_up or not options["catch_up"]):
                break
            if caught_up:
                self.stop.wait(interval)

    def scan_chain(self, chain_id: int, *, max_blocks: int | None = None) -> bool:
        """One run on one chain; prints a line; True when the chain is at its head (or the run was skipped)."""
        try:
            report = pool_scan_run(chain_id=chain_id, max_blocks=max_blocks)
        except RpcError as exc:
            self.stderr.write(f"chain {chain_id}: RPC failure, will retry: {exc}")
            return True
        if report.skipped:
            self.stdout.write(f"chain {chain_id}: another scan holds the lock")
            return True
        reorg = f", reorg rolled back {report.reorg.depth} blocks" if report.reorg else ""
        if report.blocks:
            self.stdout.write(
                f"chain {chain_id}: blocks {report.from_block}-{report.to_block}, "
                f"{report.extra.get('opportunities', 0)} opportunities, lag {report.lag}{reorg}"
            )
        return report.lag in (0, None)
