from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = "History API and aggregates"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from api import receivers  # noqa: F401  (connects the aggregate receivers)
