"""Admin for API keys: the key is generated on save and shown once in the success message."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from streaming.models import ApiKey
from streaming.services import api_key_assign, api_key_generate


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "is_active", "max_connections", "max_subscriptions", "created_at", "last_used_at")
    list_filter = ("is_active",)
    search_fields = ("name", "prefix")
    fields = ("name", "is_active", "max_connections", "max_subscriptions", "prefix", "created_at", "last_used_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        key = None
        if not change:
            key = api_key_generate()
            api_key_assign(api_key=obj, key=key)
        super().save_model(request, obj, form, change)
        if key is not None:
            self.message_user(
                request,
                f"API key for {obj.name}: {key} — copy it now, it is stored only as a hash and cannot be shown again.",
                messages.WARNING,
            )
