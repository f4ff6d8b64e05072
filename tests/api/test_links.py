"""The side tables behind ``?pool=`` (transactions) and ``?token=`` (opportunities): they follow the rows
through writes and reorgs, equal a rebuild, and the lists read through them page like the plain lists."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from api.aggregates import aggregates_rebuild
from api.models import OpportunityToken, TransactionPool
from opportunities.models import Opportunity
from opportunities.services import opportunity_delete_from_block
from tests.api.helpers import T0, USDT, WBNB, record_opportunity, record_tx
from tests.factories import ChainFactory, PoolFactory, TokenFactory
from transactions.models import ArbitrageTransaction
from transactions.services import transactions_rollback

pytestmark = pytest.mark.django_db

POOL_A, POOL_B, POOL_C = ("0x" + f"{n:02d}" * 20 for n in (1, 2, 3))


def links() -> dict[str, set[tuple[Any, ...]]]:
    return {
        "tx": set(
            TransactionPool.objects.values_list("pool", "detected_at", "transaction_id", "profit_net_usd", "swap_count")
        ),
        "opp": set(OpportunityToken.objects.values_list("token", "detected_at", "opportunity_id")),
    }


def expected_links() -> dict[str, set[tuple[Any, ...]]]:
    """What the rows say the links must be."""
    return {
        "tx": {
            (p, t.detected_at, t.pk, t.profit_net_usd, t.swap_count)
            for t in ArbitrageTransaction.objects.all()
            for p in t.pools_involved
        },
        "opp": {
            (token.address, o.detected_at, o.pk)
            for o in Opportunity.objects.select_related("pool__token0", "pool__token1")
            for token in (o.pool.token0, o.pool.token1)
        },
    }


def rebuilt() -> dict[str, set[tuple[Any, ...]]]:
    sid = transaction.savepoint()
    aggregates_rebuild(links_only=True)
    result = links()
    transaction.savepoint_rollback(sid)
    return result


@pytest.fixture
def pools() -> dict[str, Any]:
    chain = ChainFactory()
    usdt = TokenFactory(chain=chain, address=USDT, symbol="USDT")
    wbnb = TokenFactory(chain=chain, address=WBNB, symbol="WBNB")
    rare = TokenFactory(chain=chain, address="0x" + "77" * 20, symbol="RARE")
    return {
        "a": PoolFactory(chain=chain, address=POOL_A, token0=usdt, token1=wbnb),
        "b": PoolFactory(chain=chain, address=POOL_B, token0=rare, token1=wbnb),
        "rare": rare,
    }


def test_links_are_written_with_the_rows_and_removed_by_a_reorg(pools: dict[str, Any]) -> None:
    for i in range(6):
        pools_ = (POOL_A, (POOL_B, POOL_C)[i % 2], POOL_A)
        record_tx(n=i, block=1000 + 10 * i, at=T0 + timedelta(minutes=i), pools=pools_)
        record_opportunity(pool=pools["a" if i % 3 else "b"], block=1000 + 10 * i + 1)
    assert len(links()["tx"]) == 12  # POOL_A once per transaction, though it is in the cycle twice
    assert len(links()["opp"]) == 12
    assert links() == expected_links() == rebuilt()

    transactions_rollback(chain_id=56, from_block=1030)
    opportunity_delete_from_block(chain_id=56, from_block=1020)
    assert ArbitrageTransaction.objects.count() == 3 and Opportunity.objects.count() == 2
    assert links() == expected_links() == rebuilt()
    assert len(links()["tx"]) == 6


def test_a_rebuild_of_one_chain_leaves_the_other_alone(pools: dict[str, Any]) -> None:
    ChainFactory(chain_id=137, name="Polygon", native_symbol="POL")
    record_tx(n=1, pools=(POOL_A, POOL_B))
    record_tx(n=2, pools=(POOL_A, POOL_C), chain_id=137)
    before = links()
    TransactionPool.objects.all().delete()
    aggregates_rebuild(chain_id=137, links_only=True)
    assert {link[2] for link in links()["tx"]} == {ArbitrageTransaction.objects.get(chain_id=137).pk}
    aggregates_rebuild(chain_id=56, links_only=True)
    assert links() == before


def walk(client: Client, url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.content
        page = response.json()
        rows += page["results"]
        next_url = page["next"]
    return rows


def test_pool_and_token_lists_page_newest_first_through_the_side_tables(client: Client, pools: dict[str, Any]) -> None:
    for i in range(9):
        record_tx(n=i, block=1000 + i, pools=(POOL_A, POOL_B) if i % 3 else (POOL_B, POOL_C), profit=(i + 1) * 10**18)
        record_opportunity(pool=pools["b" if i % 2 else "a"], block=1000 + i, profit_usd=str(i + 1))
    newest = list(ArbitrageTransaction.objects.order_by("-detected_at", "-id"))

    through_a = walk(client, f"/api/v1/transactions/?pool={POOL_A}&page_size=2")
    assert [t["id"] for t in through_a] == [t.pk for t in newest if POOL_A in t.pools_involved]
    assert len(through_a) == 6
    # Combined with filters on the transaction itself, in both directions of the cursor.
    rich = walk(client, f"/api/v1/transactions/?pool={POOL_B}&min_profit=4&chain_id=56&page_size=2")
    assert [t["id"] for t in rich] == [t.pk for t in newest if t.profit_net_usd >= 4]
    # The profit and swap filters also test the link's copies (its covering index on PostgreSQL).
    window = walk(client, f"/api/v1/transactions/?pool={POOL_B}&max_profit=6.4&min_swaps=2&max_swaps=2&page_size=2")
    assert [t["id"] for t in window] == [t.pk for t in newest if t.profit_net_usd <= Decimal("6.4")]
    assert walk(client, f"/api/v1/transactions/?pool={POOL_B}&min_swaps=3") == []
    first = client.get(f"/api/v1/transactions/?pool={POOL_B}&page_size=3").json()
    second = client.get(first["next"]).json()
    assert client.get(second["previous"]).json()["results"] == first["results"]

    opps = list(Opportunity.objects.order_by("-detected_at", "-id"))
    rare = walk(client, f"/api/v1/opportunities/?token={pools['rare'].address.lower()}&page_size=2")
    assert [o["id"] for o in rare] == [o.pk for o in opps if o.pool_id == pools["b"].pk]
    every = walk(client, f"/api/v1/opportunities/?token={WBNB}&page_size=4&min_profit=2")
    assert [o["id"] for o in every] == [o.pk for o in opps if o.profit_usd >= 2]
    assert walk(client, f"/api/v1/opportunities/?token={WBNB}&chain_id=137") == []

    search = client.get(f"/api/v1/search/?q={POOL_A}").json()
    assert search["kind"] == "pool"
    assert [t["id"] for t in search["transactions"]] == [t.pk for t in newest if POOL_A in t.pools_involved]
