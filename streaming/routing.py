"""WebSocket routes: the spec's stream endpoint, behind the gate (API keys, per-key / per-address slots)."""

from __future__ import annotations

from django.urls import URLPattern, path

from streaming.consumers import StreamConsumer
from streaming.gate import StreamGate

websocket_urlpatterns: list[URLPattern] = [
    path("ws/v1/stream", StreamGate(StreamConsumer.as_asgi())),
]
