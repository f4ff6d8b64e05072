from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class TransactionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "transactions"
    verbose_name = "Arbitrage transactions"

    def ready(self) -> None:
        from scanning.registry import ScanKind, scan_kind_register

        def backfill_processor(*args: Any) -> Any:
            from transactions.backfill import backfill_processor

            return backfill_processor(*args)

        scan_kind_register(
            ScanKind(
                kind="transactions",
                task_name="transactions.tasks.scan_transactions",
                backfill_name="transactions",
                backfill_processor=backfill_processor,
                backfill_order=1,
            )
        )
