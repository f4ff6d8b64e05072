"""Dashboard pages rendered by Django (the browser tests drive them in Chromium)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from api.addresses import checksum
from tests.api.helpers import USDT, WBNB, record_opportunity, record_tx
from tests.factories import ChainFactory, PoolFactory, TokenFactory

pytestmark = pytest.mark.django_db
BOT = checksum("0x" + "a1" * 20)
CONTRACT = checksum("0x" + "c1" * 20)


@pytest.fixture
def tx() -> Any:
    chain = ChainFactory()
    usdt = TokenFactory(chain=chain, address=USDT, symbol="USDT")
    wbnb = TokenFactory(chain=chain, address=WBNB, symbol="WBNB")
    pool = PoolFactory(chain=chain, address="0x" + "01" * 20, token0=usdt, token1=wbnb, dex__name="PancakeSwap V2")
    record_opportunity(pool=pool, block=998)
    return record_tx(
        n=7,
        sender=BOT,
        block=1000,
        pools=(pool.address, "0x" + "02" * 20),
        coinbase_wei=3 * 10**17 + 1,
        contract=CONTRACT,
    )


def test_home_has_filters_stats_leaderboards_and_the_initial_rows(client: Client, tx: Any) -> None:
    html = client.get("/?chain_id=56&min_profit=1&period=30d").content.decode()
    assert 'name="min_profit"' in html and 'value="1.0"' in html
    assert '<script id="stream-filters" type="application/json">{"chain_id": 56, "min_profit": 1.0}</script>' in html
    assert "Top bots by net profit" in html and BOT in html
    assert "Top bot contracts by net profit" in html and f'<a href="/bot/{CONTRACT}"><code title="{CONTRACT}">' in html
    assert re.search(r'<svg class="profit-chart"', html)


def test_bad_filter_values_are_ignored_not_errors(client: Client, tx: Any) -> None:
    response = client.get("/?chain_id=x&min_profit=nan&min_swaps=-1&period=1y")
    assert client.get("/?chain_id=" + "9" * 30 + "&min_swaps=" + "9" * 30).status_code == 200  # too big: ignored
    assert response.status_code == 200
    assert '<script id="stream-filters" type="application/json">{}</script>' in response.content.decode()


def test_transaction_page_draws_each_hop_with_venue_and_exact_amounts(client: Client, tx: Any) -> None:
    html = client.get(f"/tx/{tx.pk}").content.decode()
    assert html.count('class="hop-row"') == 2
    assert "PancakeSwap V2 · 25 bps" in html and "unknown DEX" in html
    assert str(10**21) in html and str(10**21 + 10**19) in html  # start and end amounts, exact
    assert str(3 * 10**17 + 1) in html  # builder payment in wei, exact
    assert f"https://bscscan.com/tx/{tx.tx_hash}" in html
    assert client.get("/tx/424242").status_code == 404


def test_bot_and_pool_pages(client: Client, tx: Any) -> None:
    bot = client.get(f"/bot/{BOT.lower()}").content.decode()
    assert tx.tx_hash[:18] in bot or tx.tx_hash[:17] in bot
    assert f"https://bscscan.com/address/{BOT}" in bot
    assert 'id="contract-totals"' not in bot
    contract = client.get(f"/bot/{CONTRACT}").content.decode()  # the contract: every sender's totals into it
    assert 'id="contract-totals"' in contract and tx.tx_hash[:17] in contract
    pool = client.get("/pool/" + "0x" + "01" * 20).content.decode()
    assert "USDT-WBNB" in pool and "PancakeSwap V2" in pool and "captured by" in pool
    assert client.get("/bot/not-an-address").status_code == 404


def test_search_redirects_to_the_page_of_what_it_found(client: Client, tx: Any) -> None:
    assert client.get(f"/search?q={tx.tx_hash}")["Location"] == f"/tx/{tx.pk}"
    assert client.get(f"/search?q={BOT.lower()}")["Location"] == f"/bot/{BOT}"
    assert client.get("/search?q=" + "0x" + "01" * 20)["Location"] == "/pool/" + "0x" + "01" * 20
    assert 'data-kind="block"' in client.get("/search?q=1000").content.decode()
    assert 'data-kind="none"' in client.get("/search?q=%21%21").content.decode()
