"""The dashboard in a real Chromium against a real server: loads, streams live rows, filters, search, charts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, seed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIG = str(2**80 + 1)  # beyond 2^53: a float would print 1208925819614629174706176


def test_the_page_loads_with_stats_chart_and_leaderboards(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["server"].origin + "/")
    page.wait_for_selector("#status.live")
    # The chart: one bar per hourly bucket with arbitrages and the cumulative line.
    chart = page.locator("section.chart[data-chain='56'] svg.profit-chart")
    assert chart.locator("rect").count() >= 20
    assert chart.locator("path.cumulative").get_attribute("d").startswith("M")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 60
    assert page.locator("#board-bots tbody tr").count() == 3
    # Ranked by contract, the two senders of one contract are one row.
    assert page.locator("#board-contracts tbody tr").count() == 2
    assert page.locator("#board-pools tbody tr").first.inner_text().count("USDT-WBNB") == 1
    assert page.locator("#transactions tr").count() == 24
    assert page.locator("#opportunities tr").count() == 24
    page.set_viewport_size({"width": 1200, "height": 760})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-viewport.png"))  # the README's picture (docs/dashboard.png)
    page.locator("div.boards").screenshot(path=str(ARTIFACTS / "dashboard-leaderboards.png"))


def test_live_rows_arrive_over_the_websocket_with_exact_big_integers(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["server"].origin + "/")
    page.wait_for_selector("#status.live")
    spec = {
        "opportunities": [
            {
                "chain_id": 56,
                "pool": site["pool"],
                "block": 90_001,
                "profit_usd": 77.5,
                "reserve0": BIG,
                "reserve1": str(3 * 10**24 + 7),
            }
        ],
        "transactions": [{"n": 9001, "block": 90_002, "profit": 12 * 10**18}],
    }
    stored = json.loads(seed(site["database_url"], "live", json.dumps(spec)))
    row = page.locator(f"#opportunities tr[data-id='{stored['opportunities'][0]}']")
    row.wait_for(timeout=20_000)
    assert "77.50" in row.inner_text() and "90001" in row.inner_text()
    assert row.locator("a.pool").get_attribute("data-reserve0") == BIG
    assert page.locator("#opportunities tr").first.get_attribute("data-id") == str(stored["opportunities"][0])
    tx_row = page.locator(f"#transactions tr[data-id='{stored['transactions'][0]}']")
    tx_row.wait_for(timeout=20_000)
    assert "90002" in tx_row.inner_text()


def test_filters_apply_to_the_tables_and_to_the_live_subscription(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["server"].origin + "/")
    page.fill("#f-min", "20")
    page.click("#apply")
    page.wait_for_url("**/?*min_profit=20*")
    page.wait_for_selector("#status.live")
    profits = [float(t.replace(",", "")) for t in page.locator("#opportunities td.num.pos").all_inner_texts()]
    assert profits and min(profits) >= 20
    spec = {
        "opportunities": [
            {"chain_id": 56, "pool": site["pool"], "block": 91_001, "profit_usd": 5, "reserve0": "1", "reserve1": "2"},
            {"chain_id": 56, "pool": site["pool"], "block": 91_002, "profit_usd": 25, "reserve0": "1", "reserve1": "2"},
        ]
    }
    low, high = json.loads(seed(site["database_url"], "live", json.dumps(spec)))["opportunities"]
    page.locator(f"#opportunities tr[data-id='{high}']").wait_for(timeout=20_000)
    assert page.locator(f"#opportunities tr[data-id='{low}']").count() == 0  # sent before it, filtered out


def test_search_goes_to_the_transaction_page_with_its_cycle(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["server"].origin + "/")
    page.fill("#search", site["tx_hashes"][3])
    page.press("#search", "Enter")
    page.wait_for_url(f"**/tx/{site['tx_ids'][3]}")
    hops = page.locator("section.cycle tr.hop-row")
    assert hops.count() == 2
    assert "PancakeSwap V2" in page.locator("section.cycle").inner_text()
    assert page.locator(".hop-token").count() == 3  # USDT → WBNB → USDT
    assert page.locator("section.cycle td.amount").first.inner_text() == str(10**21)
    explorer = page.locator("#tx-facts a[href^='https://bscscan.com/tx/']")
    assert explorer.get_attribute("href").endswith(site["tx_hashes"][3])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "transaction-page.png"), full_page=True)

    page.fill("#search", site["bots"][0].lower())
    page.press("#search", "Enter")
    page.wait_for_url(f"**/bot/{site['bots'][0]}")
    assert page.locator("#bot-totals tbody tr").count() == 1
    assert page.locator("table.txs tbody tr").count() == 8

    page.fill("#search", "wbnb")
    page.press("#search", "Enter")
    page.wait_for_selector("#search-results[data-kind='symbol']")
    assert "WBNB" in page.locator("#search-results").inner_text()
