"""The streaming tests' fixtures (isolated connection leases, the hub's lifetime), reused here."""

from __future__ import annotations

from tests.streaming.conftest import chains, stream, stream_settings

__all__ = ["chains", "stream", "stream_settings"]
