"""Operational endpoints."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opportunities.selectors import opportunity_list
from opportunities.serializers import opportunity_data
from transactions.selectors import transaction_list
from transactions.serializers import transaction_data

DASHBOARD_ROWS = 50


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and Redis answer, 503 naming what does not."""
    problems: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        problems["database"] = str(exc)
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:
        problems["redis"] = str(exc)
    return JsonResponse({"ok": not problems, **problems}, status=503 if problems else 200)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The live dashboard: the latest rows, then whatever the WebSocket brings."""
    context = {
        "opportunities": [opportunity_data(o) for o in opportunity_list()[:DASHBOARD_ROWS]],
        "transactions": [transaction_data(t) for t in transaction_list()[:DASHBOARD_ROWS]],
    }
    return render(request, "dashboard.html", context)
