"""``manage.py watch_heads``: trigger both scans of every enabled chain the moment a new block is seen."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chains.config import registry_enabled_chains
from scanning.headwatch import HeadWatcher, HeadWatchOptions
from scanning.registry import scan_kinds


class Command(BaseCommand):
    help = (
        "Follow each enabled chain's head (eth_subscribe newHeads over the chain's WebSocket URL, else "
        "eth_blockNumber polling over HTTP) and enqueue every registered scan kind's task for every new block. "
        "Runs until SIGINT/SIGTERM; Celery beat stays the safety net."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", type=int, action="append", dest="chains", help="chain id (repeatable)")
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=None,
            help="seconds between eth_blockNumber polls (default HEADWATCH_POLL_INTERVAL_SECONDS, "
            "0 = min(block_time/4, 0.25))",
        )
        parser.add_argument("--http-only", action="store_true", help="ignore WebSocket URLs; poll over HTTP")

    def handle(self, *args: Any, **options: Any) -> None:
        watcher = self.build(**options)
        names = ", ".join(f"{w.chain_id} ({'ws' if w.config.ws_urls else 'http'})" for w in watcher.watchers.values())
        self.stdout.write(f"watching heads of chain {names}")
        asyncio.run(self.serve(watcher))
        self.stdout.write("head watcher stopped")

    def build(self, **options: Any) -> HeadWatcher:
        configs = {c.chain_id: c for c in registry_enabled_chains()}
        chain_ids = options.get("chains") or list(configs)
        unknown = [c for c in chain_ids if c not in configs]
        if unknown:
            raise CommandError(f"unknown chain(s) {unknown}; the registry has {sorted(configs)}")
        chains = [configs[c] for c in chain_ids]
        if options.get("http_only"):
            chains = [replace(c, ws_urls=()) for c in chains]
        for chain in chains:
            if not chain.ws_urls and not chain.rpc_urls:
                raise CommandError(f"chain {chain.chain_id} has neither a WebSocket nor an RPC URL")
        base = HeadWatchOptions.from_settings()
        if options.get("poll_interval") is not None:
            base = replace(base, poll_interval=options["poll_interval"])
        kinds = [k.kind for k in scan_kinds()]  # every kind an app registered (scanning.registry)
        return HeadWatcher(chains, options=base, kinds=kinds)

    async def serve(self, watcher: HeadWatcher) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping, watcher, sig)
        try:
            await watcher.run()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _stopping(self, watcher: HeadWatcher, sig: signal.Signals) -> None:
        logging.getLogger("scanning.headwatch").info("%s received; stopping", sig.name)
        watcher.request_stop()
