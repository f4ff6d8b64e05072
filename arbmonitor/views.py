"""Operational endpoints: the dashboard, liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from arbmonitor import metrics

logger = logging.getLogger(__name__)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. Depends on nothing else, so a database outage never restarts it."""
    return JsonResponse({"ok": True})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and Redis answer, no chain's scan lags more than READYZ_MAX_LAG_BLOCKS
    and none has stood still for more than READYZ_MAX_STALE_SECONDS.

    503 with stable reason codes (``database_unavailable``, ``redis_unavailable``,
    ``scan_lagging``, ``scan_stalled``); what went wrong in detail goes to the log, never into the response.
    """
    reasons: list[str] = []
    checks: dict[str, Any] = {"database": _check_database(), "redis": _check_redis()}
    if checks["database"] != "ok":
        reasons.append("database_unavailable")
    if checks["redis"] != "ok":
        reasons.append("redis_unavailable")
    if checks["database"] == "ok":
        checks["scans"] = _check_scan_lag()
        statuses = {scan["status"] for scan in checks["scans"]}
        reasons.extend(f"scan_{status}" for status in ("lagging", "stalled") if status in statuses)
    return JsonResponse({"ok": not reasons, "reasons": reasons, "checks": checks}, status=503 if reasons else 200)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        logger.warning("readyz: database check failed: %s", type(exc).__name__)
        logger.debug("readyz: database check failed", exc_info=True)
        return "unavailable"
    return "ok"


def _check_redis() -> str:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        logger.warning("readyz: redis check failed: %s", type(exc).__name__)
        logger.debug("readyz: redis check failed", exc_info=True)
        return "unavailable"
    return "ok"


def _check_scan_lag() -> list[dict[str, Any]]:
    from chains.models import ScanCursor

    limit, stale_after = settings.READYZ_MAX_LAG_BLOCKS, settings.READYZ_MAX_STALE_SECONDS
    now = timezone.now()
    scans = []
    rows = ScanCursor.objects.filter(chain__enabled=True).order_by("chain_id", "kind")
    for chain_id, kind, block, head, updated_at in rows.values_list(
        "chain_id", "kind", "block_number", "head_block_number", "updated_at"
    ):
        lag = None if head is None else max(head - block, 0)
        # The lag is measured against the head the scanner itself last saw: a scanner that stopped
        # keeps its last (small) lag for ever, so an old cursor is a failure of its own.
        idle = (now - updated_at).total_seconds()
        if stale_after and idle > stale_after:
            status = "stalled"
        elif lag is not None and lag > limit:
            status = "lagging"
        else:
            status = "ok"
        scans.append(
            {"chain_id": chain_id, "kind": kind, "lag_blocks": lag, "idle_seconds": int(idle), "status": status}
        )
    return scans


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of every process's metrics; METRICS_TOKEN or METRICS_ALLOWED_NETWORKS guard it."""
    if not _metrics_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    body, content_type = metrics.metrics_text()
    return HttpResponse(body, content_type=content_type)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
