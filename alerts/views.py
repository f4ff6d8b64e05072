"""The alert-rule API: JSON over plain Django views, authenticated by an API key.

``Authorization: Bearer <key>`` (or ``X-API-Key: <key>``). A key sees and changes only its own rules.

- ``GET/POST /api/v1/alerts/rules``
- ``GET/PATCH/DELETE /api/v1/alerts/rules/<id>``
- ``GET /api/v1/alerts/rules/<id>/deliveries`` (the latest 100)
- ``POST /api/v1/alerts/rules/<id>/test`` (queue a test alert)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from alerts import api, services
from alerts.models import AlertApiKey, AlertRule

View = Callable[..., HttpResponse]


def _error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def api_key_required(view: View) -> View:
    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
        owner = api.api_key_authenticate(key=key)
        if owner is None:
            return _error(401, "a valid API key is required (Authorization: Bearer <key>)")
        return view(request, owner, *args, **kwargs)

    return wrapper


def _body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@api_key_required
def rules(request: HttpRequest, owner: AlertApiKey) -> HttpResponse:
    if request.method == "GET":
        return JsonResponse({"results": [api.rule_data(r) for r in owner.rules.order_by("pk")]})
    if request.method != "POST":
        return _error(405, "GET or POST")
    data = _body(request)
    if data is None:
        return _error(400, "the body must be a JSON object")
    try:
        rule = api.rule_apply(AlertRule(owner=owner), data, partial=False)
    except api.RuleInvalid as exc:
        return _error(400, "invalid rule", fields=exc.errors)
    created = api.rule_data(rule)
    if rule.secret and not data.get("secret"):
        created["secret"] = rule.secret  # generated here: shown this once, so the receiver can verify
    return JsonResponse(created, status=201)


@api_key_required
def rule_detail(request: HttpRequest, owner: AlertApiKey, rule_id: int) -> HttpResponse:
    rule = owner.rules.filter(pk=rule_id).first()
    if rule is None:
        return _error(404, "no such rule")
    if request.method == "GET":
        return JsonResponse(api.rule_data(rule))
    if request.method == "DELETE":
        rule.delete()
        return HttpResponse(status=204)
    if request.method != "PATCH":
        return _error(405, "GET, PATCH or DELETE")
    data = _body(request)
    if data is None:
        return _error(400, "the body must be a JSON object")
    try:
        rule = api.rule_apply(rule, data, partial=True)
    except api.RuleInvalid as exc:
        return _error(400, "invalid rule", fields=exc.errors)
    return JsonResponse(api.rule_data(rule))


@api_key_required
def rule_deliveries(request: HttpRequest, owner: AlertApiKey, rule_id: int) -> HttpResponse:
    rule = owner.rules.filter(pk=rule_id).first()
    if rule is None:
        return _error(404, "no such rule")
    latest = rule.deliveries.order_by("-pk")[:100]
    return JsonResponse({"results": [api.delivery_data(d) for d in latest]})


@api_key_required
def rule_test(request: HttpRequest, owner: AlertApiKey, rule_id: int) -> HttpResponse:
    if request.method != "POST":
        return _error(405, "POST")
    rule = owner.rules.filter(pk=rule_id).first()
    if rule is None:
        return _error(404, "no such rule")
    from alerts.tasks import deliver

    delivery = services.delivery_test_create(rule=rule)
    deliver.delay(delivery.pk)
    return JsonResponse(api.delivery_data(delivery), status=202)
