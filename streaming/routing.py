"""WebSocket routes: the spec's stream endpoint."""

from __future__ import annotations

from django.urls import URLPattern, path

from streaming.consumers import StreamConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/v1/stream", StreamConsumer.as_asgi()),
]
