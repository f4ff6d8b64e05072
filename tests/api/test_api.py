"""The REST API: same fields as the stream, filters, cursor pages, search, stats, leaderboards, 400s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from api.addresses import checksum
from api.windows import windows_reset
from chains.models import ScanCursor
from opportunities.serializers import opportunity_data
from tests.api.helpers import USDT, WBNB, record_opportunity, record_tx
from tests.factories import ChainFactory, PoolFactory, TokenFactory
from transactions.models import ArbitrageTransaction
from transactions.serializers import transaction_data

pytestmark = pytest.mark.django_db

BOT_A, BOT_B = checksum("0x" + "a1" * 20), checksum("0x" + "b2" * 20)
NOW = datetime.now(UTC)
UNKNOWN_POOL = "0x" + "03" * 20
# Both bots send some of their transactions into one contract (C1); tx 4 was stored without its contract.
C1, C2 = checksum("0x" + "c1" * 20), checksum("0x" + "c2" * 20)


def get(client: Client, url: str, status: int = 200) -> Any:
    response = client.get(url)
    assert response.status_code == status, response.content
    return response.json()


@pytest.fixture
def market() -> dict[str, Any]:
    """Two chains, a pool with opportunities, transactions from two bots over the last days."""
    chain = ChainFactory()
    ChainFactory(chain_id=137, name="Polygon", native_symbol="POL", explorer_url="")
    usdt = TokenFactory(chain=chain, address=USDT, symbol="USDT")
    wbnb = TokenFactory(chain=chain, address=WBNB, symbol="WBNB")
    pool = PoolFactory(chain=chain, address="0x" + "01" * 20, token0=usdt, token1=wbnb, dex__name="PancakeSwap V2")
    market_pool = pool.address
    other = PoolFactory(chain=chain, address="0x" + "02" * 20, token0=usdt, token1=wbnb, dex__name="BiSwap")
    windows_reset()
    opps = [record_opportunity(pool=pool, block=b, profit_usd=str(10 + i)) for i, b in enumerate((999, 1050, 1150))]
    txs = [
        record_tx(
            n=1,
            sender=BOT_A,
            block=1000,
            at=NOW - timedelta(minutes=5),
            profit=30 * 10**18,
            coinbase_wei=10**16,
            contract=C1,
            pools=(market_pool, UNKNOWN_POOL),
        ),
        record_tx(
            n=2,
            sender=BOT_A,
            block=1100,
            at=NOW - timedelta(days=3),
            profit=5 * 10**18,
            contract=C2,
            pools=(other.address, pool.address, other.address),
        ),
        record_tx(
            n=3,
            sender=BOT_B,
            block=1200,
            at=NOW - timedelta(hours=3),
            profit=20 * 10**18,
            contract=C1,
            pools=(pool.address, UNKNOWN_POOL),
        ),
        record_tx(
            n=4,
            sender=BOT_B,
            block=1300,
            at=NOW - timedelta(days=20),
            profit=100 * 10**18,
            pools=(other.address, other.address),
        ),
    ]
    for opp in opps:
        opp.refresh_from_db()
    ScanCursor.objects.create(
        chain_id=56, kind="transactions", block_number=1300, block_hash="0x" + "cd" * 32, head_block_number=1310
    )
    return {"pool": pool, "other": other, "opps": opps, "txs": txs}


def test_lists_return_the_stream_payloads_newest_first(client: Client, market: dict[str, Any]) -> None:
    opps = get(client, "/api/v1/opportunities/")
    assert opps["results"] == [opportunity_data(o) for o in reversed(market["opps"])]
    assert opps["results"][0]["reserve0"] == 2**80 + 1  # exact in JSON
    txs = get(client, "/api/v1/transactions/")
    stored = ArbitrageTransaction.objects.order_by("-detected_at", "-id")
    assert txs["results"] == [transaction_data(t) for t in stored]


def test_details_add_the_cycle_with_raw_amounts_as_strings(client: Client, market: dict[str, Any]) -> None:
    tx = market["txs"][0]
    detail = get(client, f"/api/v1/transactions/{tx.pk}/")
    assert {k: detail[k] for k in transaction_data(tx)} == transaction_data(tx)
    assert detail["coinbase_transfer_wei"] == str(10**16)
    (cycle,) = detail["cycles"]
    assert (cycle["start_amount"], cycle["end_amount"]) == (str(10**21), str(10**21 + 30 * 10**18))
    opp = get(client, f"/api/v1/opportunities/{market['opps'][0].pk}/")
    assert opp["dex"] == "PancakeSwap V2" and opp["amount_in"] == str(10**18)
    get(client, "/api/v1/transactions/999999/", status=404)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sender=" + BOT_A, {1, 2}),
        ("sender=" + BOT_B.lower(), {3, 4}),
        ("contract=" + C1.lower(), {1, 3}),
        ("contract=" + C2, {2}),
        ("pool=" + "0x" + "01" * 20, {1, 2, 3}),
        ("pool=" + "0x" + "02" * 20, {2, 4}),
        ("token=" + WBNB, {1, 2, 3, 4}),
        ("dex=BiSwap", {2, 4}),
        ("dex=pancakeswap%20v2", {1, 2, 3}),
        ("block_min=1100&block_max=1200", {2, 3}),
        ("min_profit=19&max_profit=50", {1, 3}),
        ("min_swaps=3", {2}),
        ("max_swaps=2&chain_id=56", {1, 3, 4}),
        ("chain_id=137", set()),
    ],
)
def test_transaction_filters(client: Client, market: dict[str, Any], query: str, expected: set[int]) -> None:
    found = get(client, f"/api/v1/transactions/?{query}")["results"]
    assert {int(t["tx_hash"], 16) for t in found} == expected


def test_time_filters_and_opportunity_filters(client: Client, market: dict[str, Any]) -> None:
    since = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = get(client, f"/api/v1/transactions/?block_after={since}")["results"]
    assert {int(t["tx_hash"], 16) for t in recent} == {1, 3}
    captured = get(client, "/api/v1/opportunities/?captured=true")["results"]
    assert [o["captured_by"] for o in captured] == [BOT_A]  # tx 1 (block 1000) took the one of block 999
    assert get(client, f"/api/v1/opportunities/?captured_by={BOT_A}")["results"] == captured
    assert len(get(client, f"/api/v1/opportunities/?token={WBNB}&min_profit=11")["results"]) == 2
    assert get(client, f"/api/v1/opportunities/?pool={'0x' + '02' * 20}")["results"] == []
    assert len(get(client, "/api/v1/opportunities/?dex=PancakeSwap%20V2&block_min=1000")["results"]) == 2


def test_cursor_pages_walk_everything_once(client: Client, market: dict[str, Any]) -> None:
    seen: list[str] = []
    url: str | None = "/api/v1/transactions/?page_size=1"
    while url:
        page = get(client, url)
        seen += [t["tx_hash"] for t in page["results"]]
        url = page["next"]
    assert len(seen) == 4 and len(set(seen)) == 4


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/transactions/?min_profit=lots", "min_profit"),
        ("/api/v1/transactions/?sender=0x123", "sender"),
        ("/api/v1/transactions/?block_min=-5", "block_min"),
        ("/api/v1/transactions/?block_after=yesterday", "block_after"),
        ("/api/v1/transactions/?chain_id=" + "9" * 30, "chain_id"),  # beyond the integer columns
        ("/api/v1/transactions/?block_max=1.5", "block_max"),
        ("/api/v1/transactions/?min_swaps=" + "9" * 30, "min_swaps"),
        ("/api/v1/transactions/?pool=0x12", "pool"),
        ("/api/v1/opportunities/?token=WBNB", "token"),
        ("/api/v1/stats/?chain_id=" + "9" * 30, "chain_id"),
        ("/api/v1/opportunities/?captured=maybe", "captured"),
        ("/api/v1/opportunities/?chain_id=bsc", "chain_id"),
        ("/api/v1/opportunities/?cursor=garbage", "cursor"),
        ("/api/v1/opportunities/?page_size=100000", "page_size"),
        ("/api/v1/stats/?period=2w", "period"),
        ("/api/v1/leaderboard/?period=1d&limit=0", "limit"),
        ("/api/v1/leaderboard/?chain_id=x", "chain_id"),
        ("/api/v1/series/?period=1d", "chain_id"),
        ("/api/v1/search/", "q"),
        ("/api/v1/search/?q=" + "x" * 200, "q"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(client: Client, url: str, parameter: str) -> None:
    ChainFactory()
    body = get(client, url, status=400)
    assert parameter in body, body


def test_stats_per_chain_and_period(client: Client, market: dict[str, Any]) -> None:
    day = {s["chain_id"]: s for s in get(client, "/api/v1/stats/?period=1d")["results"]}
    bsc = day[56]
    assert bsc["transaction_count"] == 2  # 5 minutes and 3 hours ago
    assert bsc["profit_gross_usd"] == pytest.approx(50.0)
    assert bsc["gas_cost_usd"] == pytest.approx(1.2)
    assert bsc["profit_net_usd"] == pytest.approx(42.8)  # gross - gas - the measured builder payment ($6)
    assert bsc["builder_payments_native"] == pytest.approx(0.01) and bsc["builder_payments_measured"] == 1
    assert day[137]["transaction_count"] == 0 and day[137]["captured_share"] is None
    month = get(client, "/api/v1/stats/?period=30d&chain_id=56")["results"]
    assert [s["transaction_count"] for s in month] == [4]
    assert month[0]["opportunity_count"] == 3 and month[0]["captured_count"] == 1
    assert month[0]["captured_share"] == pytest.approx(1 / 3, abs=1e-6)


def test_leaderboards(client: Client, market: dict[str, Any]) -> None:
    month = get(client, "/api/v1/leaderboard/?period=30d")
    assert [(b["sender"], b["transaction_count"]) for b in month["bots"]] == [(BOT_B, 2), (BOT_A, 2)]
    assert month["bots"][0]["profit_net_usd"] == pytest.approx(118.8)
    assert [p["pool_address"] for p in month["pools"]] == ["0x" + "01" * 20, "0x" + "02" * 20, UNKNOWN_POOL]
    assert month["pools"][2]["pool_name"] is None
    assert month["pools"][0]["pool_name"] == "USDT-WBNB" and month["pools"][0]["dex"] == "PancakeSwap V2"
    assert month["pools"][0]["opportunity_count"] == 3
    assert {t["symbol"] for t in month["tokens"]} == {"USDT", "WBNB"}
    week = get(client, "/api/v1/leaderboard/?period=7d&limit=1")
    assert [(b["sender"], b["transaction_count"]) for b in week["bots"]] == [(BOT_A, 2)]
    hour = get(client, "/api/v1/leaderboard/?period=1h&chain_id=56")
    assert [b["sender"] for b in hour["bots"]] == [BOT_A]
    assert get(client, "/api/v1/leaderboard/?period=30d&chain_id=137")["bots"] == []


def test_leaderboard_by_contract_joins_the_senders_of_one_contract(client: Client, market: dict[str, Any]) -> None:
    month = get(client, "/api/v1/leaderboard/?period=30d")
    # By sender BOT_B leads (tx 4 alone is $99.4); by contract, C1 holds both bots' transactions 1 and 3, and
    # tx 4 (no contract recorded) counts for no contract.
    assert [(c["contract_address"], c["transaction_count"]) for c in month["contracts"]] == [(C1, 2), (C2, 1)]
    assert month["contracts"][0]["profit_net_usd"] == pytest.approx(23.4 + 19.4)
    assert month["contracts"][0]["builder_payments_native"] == pytest.approx(0.01)
    assert month["contracts"][1]["profit_net_usd"] == pytest.approx(4.4)
    hour = get(client, "/api/v1/leaderboard/?period=1h&chain_id=56")
    assert [(c["contract_address"], c["transaction_count"]) for c in hour["contracts"]] == [(C1, 1)]
    day = get(client, "/api/v1/leaderboard/?period=1d&limit=1")
    assert [c["contract_address"] for c in day["contracts"]] == [C1]
    assert get(client, "/api/v1/leaderboard/?period=7d&chain_id=137")["contracts"] == []
    contract = get(client, f"/api/v1/search/?q={C1.lower()}")
    assert contract["kind"] == "bot" and contract["totals"] == []
    assert contract["contract_totals"][0]["transaction_count"] == 2
    assert {int(t["tx_hash"], 16) for t in contract["contract_transactions"]} == {1, 3}


def test_search_recognises_what_it_is_given(client: Client, market: dict[str, Any]) -> None:
    tx = market["txs"][0]
    found = get(client, f"/api/v1/search/?q={tx.tx_hash}")
    assert found["kind"] == "transaction" and [t["id"] for t in found["transactions"]] == [tx.pk]
    assert [o["id"] for o in found["opportunities_captured"]] == [market["opps"][0].pk]
    block = get(client, "/api/v1/search/?q=1100")
    assert block["kind"] == "block" and [t["block_number"] for t in block["transactions"]] == [1100]
    pool = get(client, f"/api/v1/search/?q={'0x' + '01' * 20}")
    assert pool["kind"] == "pool" and len(pool["opportunities"]) == 3 and len(pool["transactions"]) == 3
    assert pool["totals"][0]["transaction_count"] == 3
    token = get(client, f"/api/v1/search/?q={WBNB.lower()}")
    assert token["kind"] == "token" and token["tokens"][0]["symbol"] == "WBNB" and len(token["transactions"]) == 4
    bot = get(client, f"/api/v1/search/?q={BOT_A.lower()}")
    assert bot["kind"] == "bot" and bot["totals"][0]["transaction_count"] == 2
    assert bot["totals"][0]["profit_net_usd"] == pytest.approx(27.8)  # net of its $6 builder payment
    assert len(bot["opportunities_captured"]) == 1
    symbol = get(client, "/api/v1/search/?q=wbnb")
    assert symbol["kind"] == "symbol" and [t["address"] for t in symbol["tokens"]] == [WBNB]
    assert get(client, "/api/v1/search/?q=%3Cscript%3E")["kind"] == "none"


def test_chains_report_head_cursors_and_lag(client: Client, market: dict[str, Any]) -> None:
    chains = {c["chain_id"]: c for c in get(client, "/api/v1/chains/")["results"]}
    bsc = chains[56]
    assert bsc["head_block_number"] == 1310
    assert bsc["cursors"] == [
        {
            "kind": "transactions",
            "block_number": 1300,
            "head_block_number": 1310,
            "lag": 10,
            "updated_at": bsc["cursors"][0]["updated_at"],
        }
    ]
    assert bsc["last_block_number"] == 1300
    assert chains[137]["cursors"] == [] and chains[137]["last_block_time"] is None


def test_series_for_the_chart(client: Client, market: dict[str, Any]) -> None:
    series = get(client, "/api/v1/series/?chain_id=56&period=7d")["results"]
    assert sum(p["transaction_count"] for p in series) == 3
    assert [p["start"] for p in series] == sorted(p["start"] for p in series)


def test_schema_and_docs_are_served(client: Client) -> None:
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/opportunities/", "/api/v1/transactions/{id}/", "/api/v1/search/", "/api/v1/leaderboard/"):
        assert path in spec["paths"]
    params = {p["name"] for p in spec["paths"]["/api/v1/transactions/"]["get"]["parameters"]}
    assert {"sender", "pool", "token", "min_profit", "min_swaps", "block_min", "cursor"} <= params
    tx_fields = spec["components"]["schemas"]["Transaction"]["properties"]
    assert set(tx_fields) >= {"tx_hash", "profit_net_usd", "pools_involved"}
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    assert b"cdn" not in docs.content.lower()
    browsable = client.get("/api/v1/transactions/", HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200 and b"Transaction List" in browsable.content


def test_schema_fields_are_the_stream_fields(market: dict[str, Any]) -> None:
    from api.serializers import OpportunitySerializer, TransactionSerializer

    assert list(OpportunitySerializer().fields) == list(opportunity_data(market["opps"][0]))
    assert list(TransactionSerializer().fields) == list(transaction_data(market["txs"][0]))


@pytest.mark.parametrize("gin_max_rows", [0, 10**9])
def test_json_list_filters_give_the_same_rows_with_either_plan(
    client: Client, market: dict[str, Any], monkeypatch: pytest.MonkeyPatch, gin_max_rows: int
) -> None:
    """Few matches use the GIN index, many the newest-first walk (PostgreSQL); the answer must not change."""
    import api.filters

    monkeypatch.setattr(api.filters, "GIN_MAX_ROWS", gin_max_rows)
    assert len(get(client, f"/api/v1/opportunities/?token={WBNB}&min_profit=11")["results"]) == 2
    for query, expected in (
        ("pool=" + "0x" + "01" * 20, {1, 2, 3}),
        ("pool=" + UNKNOWN_POOL, {1, 3}),
        ("token=" + WBNB, {1, 2, 3, 4}),
        ("dex=BiSwap", {2, 4}),
    ):
        found = get(client, f"/api/v1/transactions/?{query}")["results"]
        assert {int(t["tx_hash"], 16) for t in found} == expected, query
    assert len(get(client, f"/api/v1/search/?q={WBNB}")["transactions"]) == 4
