"""Recompute the API's bucketed aggregates from the stored rows (after a bulk load or a backfill)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from api.aggregates import aggregates_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the stats/leaderboard aggregates (api_*bucket tables) and the filters' side tables "
        "(api_transactionpool, api_opportunitytoken) from the transactions and opportunities."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", type=int, default=None, help="Only this chain id (default: all chains).")
        parser.add_argument(
            "--links-only",
            action="store_true",
            help="Only the side tables of ?pool= (transactions) and ?token= (opportunities).",
        )
        parser.add_argument(
            "--buckets-only",
            action="store_true",
            help="Only the buckets and leaderboard windows (run beside --links-only to halve a big rebuild).",
        )

    def handle(self, *args: Any, chain: int | None, links_only: bool, buckets_only: bool, **options: Any) -> None:
        started = time.monotonic()
        aggregates_rebuild(chain_id=chain, links_only=links_only, links=not buckets_only)
        scope = f"chain {chain}" if chain is not None else "all chains"
        self.stdout.write(self.style.SUCCESS(f"aggregates rebuilt for {scope} in {time.monotonic() - started:.1f} s"))
