"""WebSocket routes: the spec's stream endpoint, behind the gate (API keys, per-key / per-address slots)."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path

from streaming.consumers import StreamConsumer
from streaming.gate import StreamGate

stream: Any = StreamGate(StreamConsumer.as_asgi())  # an ASGI app, not a Django view

websocket_urlpatterns: list[URLPattern] = [
    path("ws/v1/stream", stream),
]
