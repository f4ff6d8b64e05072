from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "opportunities"

    def ready(self) -> None:
        from chains.signals import detections_removed, detections_written
        from opportunities.capture import on_detections_removed, on_detections_written
        from scanning.registry import ScanKind, scan_kind_register

        def backfill_processor(*args: Any) -> Any:
            from opportunities.backfill import backfill_processor

            return backfill_processor(*args)

        scan_kind_register(
            ScanKind(
                kind="pools",
                task_name="opportunities.tasks.scan_pools",
                backfill_name="opportunities",
                backfill_processor=backfill_processor,
                backfill_order=0,  # before the transactions that capture them
            )
        )

        detections_written.connect(on_detections_written, dispatch_uid="opportunities.capture.written")
        detections_removed.connect(on_detections_removed, dispatch_uid="opportunities.capture.removed")
