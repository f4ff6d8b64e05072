from __future__ import annotations

from django.apps import AppConfig


class StreamingConfig(AppConfig):
    name = "streaming"
    verbose_name = "WebSocket streaming"

    def ready(self) -> None:
        from streaming import daphne_compat, deflate

        daphne_compat.install()
        deflate.install()
