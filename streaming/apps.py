from __future__ import annotations

from django.apps import AppConfig


class StreamingConfig(AppConfig):
    name = "streaming"
    verbose_name = "WebSocket streaming"

    def ready(self) -> None:
        from chains.signals import detections_removed
        from streaming import daphne_compat, deflate
        from streaming.retractions import detections_removed_retract

        daphne_compat.install()
        deflate.install()
        detections_removed.connect(detections_removed_retract, dispatch_uid="streaming.retractions")
