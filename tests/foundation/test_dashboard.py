from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from tests.factories import ArbitrageTransactionFactory, OpportunityFactory

pytestmark = pytest.mark.django_db


def _script(html: str, element_id: str) -> list[dict]:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, element_id
    return json.loads(match.group(1))


def test_dashboard_starts_with_the_latest_rows_as_the_stream_sends_them(client: Client) -> None:
    opportunity = OpportunityFactory(pool__token0__symbol="WBNB", pool__token1__symbol="BUSD")
    tx = ArbitrageTransactionFactory()
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/ws/v1/stream" in html
    opportunities = _script(html, "initial-opportunities")
    transactions = _script(html, "initial-transactions")
    assert [o["id"] for o in opportunities] == [opportunity.pk]
    assert opportunities[0]["pool_name"] == "WBNB-BUSD"
    assert [t["tx_hash"] for t in transactions] == [tx.tx_hash]


def test_dashboard_renders_empty(client: Client) -> None:
    html = client.get("/").content.decode()
    assert _script(html, "initial-opportunities") == [] and _script(html, "initial-transactions") == []
