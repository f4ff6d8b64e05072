"""The detection changelists must stay usable on 10M rows: no COUNT(*) or DISTINCT over a whole table."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbmonitor.admin_utils import CappedCountPaginator
from tests.factories import ArbitrageTransactionFactory, OpportunityFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name", ["admin:opportunities_opportunity_changelist", "admin:transactions_arbitragetransaction_changelist"]
)
def test_changelist_queries_are_bounded(admin_client: Client, name: str) -> None:
    OpportunityFactory()
    ArbitrageTransactionFactory()
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(reverse(name)).status_code == 200
    detection_queries = [
        q["sql"]
        for q in queries.captured_queries
        if "opportunities_opportunity" in q["sql"] or "arbitragetransaction" in q["sql"]
    ]
    for sql in detection_queries:
        assert "DISTINCT" not in sql.upper(), sql
        if "COUNT(" in sql.upper():
            assert "LIMIT" in sql.upper(), sql  # the capped count: SELECT COUNT(*) FROM (… LIMIT 10001)


def test_the_count_stops_at_the_cap(admin_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CappedCountPaginator, "CAP", 2)
    for _ in range(5):
        ArbitrageTransactionFactory()
    body = admin_client.get(reverse("admin:transactions_arbitragetransaction_changelist")).content.decode()
    assert "3 arbitrage transactions" in body
