"""The flow-based fields of executed arbitrages in the API and on the dashboard: contract, venues,
per-token profits, builder payments, losing cycles, and the ``?contract=`` filter."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from api.addresses import checksum
from tests.api.helpers import USDT, WBNB, record_tx
from tests.factories import ChainFactory, PoolFactory, TokenFactory

pytestmark = pytest.mark.django_db
BOT = checksum("0x" + "a1" * 20)
CONTRACT = checksum("0x" + "c1" * 20)
OTHER = checksum("0x" + "c2" * 20)


@pytest.fixture
def txs() -> list[Any]:
    chain = ChainFactory()
    usdt = TokenFactory(chain=chain, address=USDT, symbol="USDT")
    wbnb = TokenFactory(chain=chain, address=WBNB, symbol="WBNB")
    pool = PoolFactory(chain=chain, address="0x" + "01" * 20, token0=usdt, token1=wbnb, dex__name="PancakeSwap V2")
    return [
        record_tx(n=1, sender=BOT, contract=CONTRACT, pools=(pool.address, "0x" + "02" * 20), coinbase_wei=10**15),
        record_tx(n=2, sender=BOT, contract=OTHER),
        record_tx(n=3, sender=checksum("0x" + "a2" * 20), contract=CONTRACT, profit=-(10**18)),
    ]


def test_list_filters_by_contract_and_outcome_and_shows_the_new_fields(client: Client, txs: list[Any]) -> None:
    body = client.get(f"/api/v1/transactions/?contract={CONTRACT.lower()}").json()
    assert sorted(r["tx_hash"] for r in body["results"]) == sorted([txs[0].tx_hash, txs[2].tx_hash])
    row = next(r for r in body["results"] if r["tx_hash"] == txs[0].tx_hash)
    assert row["contract_address"] == CONTRACT and row["venues"] == ["uniswap_v2", "uniswap_v2"]
    assert row["profits"] == [{"token": USDT, "raw": str(10**19), "usd": 10.0}]
    assert row["outcome"] == "profit" and row["price_source"] == "parent_block"
    assert row["builder_payment_usd"] == pytest.approx(0.6)
    losses = client.get("/api/v1/transactions/?outcome=loss").json()["results"]
    assert [r["tx_hash"] for r in losses] == [txs[2].tx_hash]
    assert client.get("/api/v1/transactions/?contract=nope").status_code == 400


def test_detail_has_each_hop_and_the_builder_payments(client: Client, txs: list[Any]) -> None:
    detail = client.get(f"/api/v1/transactions/{txs[0].pk}/").json()
    assert detail["builder_payments"] == [{"token": "native", "raw": str(10**15), "usd": 0.6}]
    (cycle,) = detail["cycles"]
    assert cycle["venues"] == ["uniswap_v2", "uniswap_v2"] and cycle["profitable"] is True
    assert [h["pool"] for h in cycle["hops"]] == ["0x" + "01" * 20, "0x" + "02" * 20]
    assert cycle["hops"][0]["amount_in"] == str(10**21)


def test_search_of_a_contract_lists_its_transactions(client: Client, txs: list[Any]) -> None:
    found = client.get(f"/api/v1/search/?q={CONTRACT.lower()}").json()
    assert found["kind"] == "bot"
    assert sorted(t["tx_hash"] for t in found["contract_transactions"]) == sorted([txs[0].tx_hash, txs[2].tx_hash])


def test_transaction_page_shows_flows_hop_amounts_and_losses(client: Client, txs: list[Any]) -> None:
    html = client.get(f"/tx/{txs[0].pk}").content.decode()
    assert CONTRACT in html and "uniswap_v2" in html and str(10**19) in html
    losing = client.get(f"/tx/{txs[2].pk}").content.decode()
    assert 'id="outcome">Loss' in losing and "losing" in losing
    bot = client.get(f"/bot/{CONTRACT.lower()}").content.decode()
    assert txs[0].tx_hash[:17] in bot
