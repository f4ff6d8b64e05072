"""WebSocket routes (the streaming issue fills in the consumer)."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
