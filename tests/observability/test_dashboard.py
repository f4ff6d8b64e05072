"""The provisioned Grafana dashboard and the compose file only name metrics and endpoints that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from arbmonitor import metrics

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _family_names() -> set[str]:
    return {family._name for family in metrics.FAMILIES}  # type: ignore[attr-defined]


def test_dashboard_queries_name_only_real_metric_families() -> None:
    dashboard = json.loads((DOCKER / "grafana" / "dashboards" / "arbmonitor.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {re.sub(r"_(total|bucket|count|sum)$", "", name) for e in exprs for name in re.findall(r"arbmonitor_\w+", e)}
    families = _family_names()
    assert used <= families, used - families
    # Every family the issue asks for is on the dashboard.
    assert families <= used, families - used


def test_compose_uses_the_health_endpoints_and_the_observability_profile() -> None:
    compose = (DOCKER / "compose.yaml").read_text()
    assert "http://127.0.0.1:8000/readyz" in compose and "/healthz" in compose
    assert 'profiles: ["observability"]' in compose
    prometheus = (DOCKER / "prometheus" / "prometheus.yml").read_text()
    assert "web:8000" in prometheus and "credentials_file: /run/secrets/metrics_token" in prometheus
