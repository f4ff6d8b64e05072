"""Webhook signatures, Stripe-style: ``X-ArbMonitor-Signature: t=<unix time>,v1=<hex>``.

``v1`` is HMAC-SHA256 with the rule's secret over ``"<t>." + body`` (the raw bytes). A receiver
recomputes it, compares in constant time, and rejects a ``t`` older than its tolerance (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-ArbMonitor-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, body)}"


def signature_verify(
    secret: str, header: str, body: bytes, *, tolerance_seconds: float = 300, now: float | None = None
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its time is within the tolerance."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_seconds:
        return False
    expected = _digest(secret, t, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


def _digest(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
