"""The admin lists, searches, filters and shows detections for a superuser."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import ArbitrageTransactionFactory, OpportunityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data() -> dict[str, object]:
    opportunity = OpportunityFactory(pool__token0__symbol="WBNB", pool__token1__symbol="BUSD")
    OpportunityFactory(pool__token0__symbol="CAKE", pool__token1__symbol="USDT")
    tx = ArbitrageTransactionFactory()
    ArbitrageTransactionFactory(strategy="2-hop", swap_count=2)
    return {"opportunity": opportunity, "tx": tx}


def test_opportunity_changelist_search_filters_and_change_page(admin_client: Client, data: dict) -> None:
    url = reverse("admin:opportunities_opportunity_changelist")
    page = admin_client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "WBNB-BUSD" in body and "CAKE-USDT" in body
    assert 'href="https://bscscan.com/address/' in body  # explorer links

    searched = admin_client.get(url, {"q": "WBNB"}).content.decode()
    assert "WBNB-BUSD" in searched and "CAKE-USDT" not in searched

    by_pool = admin_client.get(url, {"q": data["opportunity"].pool_address}).content.decode()
    assert "WBNB-BUSD" in by_pool and "CAKE-USDT" not in by_pool

    assert admin_client.get(url, {"captured__exact": "1"}).status_code == 200
    assert admin_client.get(url, {"chain__chain_id__exact": "56"}).status_code == 200
    assert admin_client.get(url, {"detected_at__year": "2025"}).status_code == 200

    change = admin_client.get(reverse("admin:opportunities_opportunity_change", args=[data["opportunity"].pk]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()  # read-only: no save button


def test_transaction_changelist_search_filters_and_change_page(admin_client: Client, data: dict) -> None:
    url = reverse("admin:transactions_arbitragetransaction_changelist")
    body = admin_client.get(url).content.decode()
    assert data["tx"].tx_hash[:10] in body
    assert f'href="https://bscscan.com/tx/{data["tx"].tx_hash}"' in body

    searched = admin_client.get(url, {"q": data["tx"].tx_hash}).content.decode()
    assert searched.count("bscscan.com/tx/") == 1

    two_hop = admin_client.get(url, {"strategy": "2-hop"}).content.decode()
    assert two_hop.count("bscscan.com/tx/") == 1
    assert admin_client.get(url, {"swap_count__exact": "3"}).status_code == 200

    change = admin_client.get(reverse("admin:transactions_arbitragetransaction_change", args=[data["tx"].pk]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()


def test_detections_cannot_be_added_by_hand(admin_client: Client) -> None:
    assert admin_client.get(reverse("admin:opportunities_opportunity_add")).status_code == 403
    assert admin_client.get(reverse("admin:transactions_arbitragetransaction_add")).status_code == 403


def test_registry_pages_render(admin_client: Client, data: dict) -> None:
    for name in ["chains_chain", "chains_token", "chains_dex", "chains_pool", "chains_scancursor"]:
        assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
