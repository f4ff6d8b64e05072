"""One HTTP attempt to a destination, classified: ok, retry (5xx, 429, timeouts, connection), or failed.

Request shapes follow each service's documentation: Discord's execute-webhook (POST JSON to the
webhook URL; 204 on success; 429 with ``Retry-After`` and ``retry_after`` in the body), Telegram's
Bot API ``sendMessage`` (POST JSON to ``<base>/bot<token>/sendMessage``; ``{"ok": true}``; 429 with
``parameters.retry_after``), and our signed generic webhook.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from alerts.messages import alert_document, alert_text, discord_body, telegram_body
from alerts.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signature_header

USER_AGENT = "ArbMonitor-Alerts/1"
_RETRY_STATUS = {408, 425, 429}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Everything one attempt needs, read from the delivery and its rule (no ORM below this)."""

    destination: str
    kind: str
    channel: str
    rule_id: int
    rule_name: str
    idempotency_key: str
    payload: dict[str, Any]
    url: str = ""
    secret: str = ""
    telegram_bot_token: str = ""
    telegram_chat_id: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    outcome: str  # "ok", "retry", "failed"
    status_code: int | None = None
    retry_after: float | None = None
    error: str = ""
    duration_ms: int = 0


class DestinationRefused(Exception):  # noqa: N818 - a reason, not a crash
    pass


def request_for(out: Outgoing) -> tuple[str, bytes, dict[str, str]]:
    """(url, body, headers) of the POST for ``out``."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, IDEMPOTENCY_HEADER: out.idempotency_key}
    if out.destination == "webhook":
        document = alert_document(
            kind=out.kind,
            rule_id=out.rule_id,
            rule_name=out.rule_name,
            channel=out.channel,
            idempotency_key=out.idempotency_key,
            payload=out.payload,
        )
        body = json.dumps(document, separators=(",", ":")).encode()
        if out.secret:
            headers[SIGNATURE_HEADER] = signature_header(out.secret, body)
        return out.url, body, headers
    text = alert_text(kind=out.kind, rule_name=out.rule_name, channel=out.channel, payload=out.payload)
    if out.destination == "discord":
        return out.url, json.dumps(discord_body(text)).encode(), headers
    if out.destination == "telegram":
        base = settings.ALERTS_TELEGRAM_API_BASE.rstrip("/")
        url = f"{base}/bot{out.telegram_bot_token}/sendMessage"
        return url, json.dumps(telegram_body(out.telegram_chat_id, text)).encode(), headers
    raise DestinationRefused(f"unknown destination {out.destination!r}")


def destination_check(url: str) -> None:
    """Refuse a URL that is not http(s), or resolves to a private address unless that is allowed (SSRF)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("destination URL must be http(s) with a host")
    if settings.ALERTS_ALLOW_PRIVATE_DESTINATIONS:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise DestinationRefused(f"cannot resolve {parts.hostname}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise DestinationRefused(f"{parts.hostname} resolves to a non-public address")


def send(out: Outgoing, *, timeout: float) -> Result:
    """One POST; never raises."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        url, body, headers = request_for(out)
        destination_check(url)
    except DestinationRefused as exc:
        return Result("failed", error=str(exc))
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return Result("retry", error=f"timed out after {timeout}s", duration_ms=took())
    except requests.RequestException as exc:
        return Result("retry", error=f"connection failed ({type(exc).__name__})", duration_ms=took())
    status = response.status_code
    if 200 <= status < 300 and _telegram_ok(out, response):
        return Result("ok", status_code=status, duration_ms=took())
    retry_after = _retry_after(response)
    error = f"HTTP {status}: {_describe(response)}"
    if status >= 500 or status in _RETRY_STATUS:
        return Result("retry", status_code=status, retry_after=retry_after, error=error, duration_ms=took())
    return Result("failed", status_code=status, error=error, duration_ms=took())


def _telegram_ok(out: Outgoing, response: requests.Response) -> bool:
    if out.destination != "telegram":
        return True
    try:
        return bool(response.json().get("ok"))
    except ValueError:
        return False


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _retry_after(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(float(header), 0.0)
        except ValueError:
            pass  # an HTTP date: fall back to the body or our own backoff
    body = _json(response)
    value = body.get("retry_after", body.get("parameters", {}).get("retry_after") if body else None)
    try:
        return None if value is None else max(float(value), 0.0)
    except (TypeError, ValueError):
        return None


def _describe(response: requests.Response) -> str:
    """A short reason from the destination (Telegram's ``description``, Discord's ``message``), never secrets."""
    body = _json(response)
    text = body.get("description") or body.get("message") or response.reason or ""
    return str(text)[:200]
