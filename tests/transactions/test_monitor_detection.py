"""The monitor's detection rules, on Swap logs built by hand (no node needed for these)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chains.config import chain_config_parse
from chains.models import Pool
from dexes.uniswap_v2.events import SWAP_TOPIC
from evm.rpc import LogRecord
from tests.factories import ChainFactory, PoolFactory, TokenFactory
from transactions.monitor import ArbitrageMonitor

pytestmark = pytest.mark.django_db

BLOCK_HASH = "0x" + "ab" * 32
_log_index = itertools.count()


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


class Market:
    """Tokens A, B, C, D and pools between them; ``swap`` builds the Swap log of a trade."""

    def __init__(self) -> None:
        chain = ChainFactory()
        self.tokens = {name: TokenFactory(chain=chain, symbol=name) for name in "ABCD"}
        self.pools: dict[str, Pool] = {}
        for name, a, b in [("AB", "A", "B"), ("BC", "B", "C"), ("CA", "C", "A"), ("AB2", "A", "B"), ("CD", "C", "D")]:
            t0, t1 = sorted([self.tokens[a], self.tokens[b]], key=lambda t: t.address)
            self.pools[name] = PoolFactory(chain=chain, token0=t0, token1=t1)
        self.pools["BA_unknown_dex"] = PoolFactory(
            chain=chain, dex=None, token0=self.pools["AB"].token0, token1=self.pools["AB"].token1
        )
        config = chain_config_parse({"chain_id": 56, "block_time": 3, "rpc_urls": ["http://127.0.0.1:1"]}, environ={})
        self.monitor = ArbitrageMonitor(config=config, client=None, broadcast=False)  # type: ignore[arg-type]

    def swap(
        self, tx: str, pool: str, token_in: str, amount_in: int, amount_out: int, index: int | None = None
    ) -> LogRecord:
        row = self.pools[pool]
        zero_in = row.token0.symbol == token_in
        words = (amount_in, 0, 0, amount_out) if zero_in else (0, amount_in, amount_out, 0)
        return LogRecord(
            block_number=100,
            block_hash=BLOCK_HASH,
            tx_hash=tx,
            tx_index=0,
            log_index=next(_log_index) if index is None else index,
            address=row.address,
            topics=(SWAP_TOPIC, _topic("0x" + "11" * 20), _topic("0x" + "22" * 20)),
            data=b"".join(w.to_bytes(32, "big") for w in words),
        )

    def detect(self, logs: list[LogRecord]) -> list[Any]:
        return self.monitor.detect(logs)


@pytest.fixture
def market() -> Market:
    return Market()


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


def test_three_hop_cycle_is_a_candidate(market: Market) -> None:
    (found,) = market.detect(
        [
            market.swap(tx(1), "AB", "A", 100, 200),
            market.swap(tx(1), "BC", "B", 200, 300),
            market.swap(tx(1), "CA", "C", 300, 104),
        ]
    )
    assert (found.tx_hash, found.block_number, found.block_hash) == (tx(1), 100, BLOCK_HASH)


def test_flash_swap_first_pair_logged_last_is_a_candidate(market: Market) -> None:
    logs = [
        market.swap(tx(2), "BC", "B", 200, 300),
        market.swap(tx(2), "CA", "C", 300, 104),
        market.swap(tx(2), "AB", "A", 100, 200),
    ]
    assert [c.tx_hash for c in market.detect(logs)] == [tx(2)]


def test_route_that_does_not_return_to_its_start_is_not_a_candidate(market: Market) -> None:
    logs = [
        market.swap(tx(3), "AB", "A", 100, 200),
        market.swap(tx(3), "BC", "B", 200, 300),
        market.swap(tx(3), "CD", "C", 300, 50),
    ]
    assert market.detect(logs) == []


def test_swap_and_its_reverse_in_different_transactions_are_not_one(market: Market) -> None:
    assert market.detect([market.swap(tx(4), "AB", "A", 100, 200), market.swap(tx(5), "AB2", "B", 200, 103)]) == []


def test_losing_round_trip_is_a_candidate_decided_on_its_flows(market: Market) -> None:
    """Whether it is a profit or a loss is measured on the receipt's transfers (tests/unit/test_flows.py)."""
    logs = [
        market.swap(tx(6), "AB", "A", 100, 200),
        market.swap(tx(6), "BC", "B", 200, 300),
        market.swap(tx(6), "CA", "C", 300, 97),
    ]
    assert [c.tx_hash for c in market.detect(logs)] == [tx(6)]


def test_sandwich_legs_are_separate_transactions(market: Market) -> None:
    front, victim, back = tx(7), tx(8), tx(9)
    logs = [
        market.swap(front, "AB", "A", 100, 200),
        market.swap(victim, "AB", "A", 50, 90),
        market.swap(back, "AB", "B", 200, 110),
    ]
    assert market.detect(logs) == []


def test_wash_swap_on_one_pool_is_not_a_candidate(market: Market) -> None:
    assert market.detect([market.swap(tx(10), "AB", "A", 100, 200), market.swap(tx(10), "AB", "B", 200, 101)]) == []


def test_candidates_come_in_block_order(market: Market) -> None:
    logs = [
        market.swap(tx(12), "AB", "A", 100, 200, index=50),
        market.swap(tx(12), "BA_unknown_dex", "B", 200, 102, index=51),
        market.swap(tx(11), "AB2", "A", 100, 200, index=10),
        market.swap(tx(11), "BA_unknown_dex", "B", 200, 102, index=11),
    ]
    assert [c.tx_hash for c in market.detect(logs)] == [tx(11), tx(12)]


def test_pool_of_an_unknown_dex_counts(market: Market) -> None:
    assert market.pools["BA_unknown_dex"].dex is None
    logs = [market.swap(tx(13), "AB", "A", 100, 200), market.swap(tx(13), "BA_unknown_dex", "B", 200, 102)]
    assert [c.tx_hash for c in market.detect(logs)] == [tx(13)]
    hops = market.monitor.hops_of(logs)
    assert [h.pool for h in hops] == [market.pools["AB"].address, market.pools["BA_unknown_dex"].address]
    assert [h.venue for h in hops] == ["uniswap_v2", "uniswap_v2"]


def test_single_swaps_need_no_pool_lookup(market: Market, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert market.detect([market.swap(tx(20 + i), "AB", "A", 100, 200) for i in range(50)]) == []


class _PublicNode:
    """Stands in for a public endpoint (none is reachable here): answers a batch from a table."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def batch(self, calls: list[tuple[str, list[Any]]], *, return_errors: bool = False) -> list[Any]:
        self.calls += [method for method, _ in calls]
        return [self.answers[method](params) for method, params in calls]


def _monitor(client: Any, **registry: Any) -> ArbitrageMonitor:
    ChainFactory()
    config = chain_config_parse(
        {"chain_id": 56, "block_time": 3, "rpc_urls": ["http://127.0.0.1:1"], **registry}, environ={}
    )
    return ArbitrageMonitor(config=config, client=client, broadcast=False)


def test_a_node_without_debug_methods_turns_tracing_off_and_leaves_native_payments_unknown() -> None:
    from evm.rpc import MethodNotSupported

    def refuse(params: list[Any]) -> Any:
        return MethodNotSupported("debug_traceTransaction", -32601, "the method does not exist", None, "http://node")

    node = _PublicNode({"debug_traceTransaction": refuse})
    monitor = _monitor(node)
    assert monitor.call_traces([tx(1), tx(2)]) == {}
    assert not monitor.trace_supported
    assert monitor.call_traces([tx(3)]) == {} and node.calls == ["debug_traceTransaction"] * 2  # not asked again


def test_polygon_fee_recipient_comes_from_bor_not_the_headers_zero_miner() -> None:
    from evm.rpc import BlockHeader

    author = "0x" + "7a" * 20
    node = _PublicNode({"bor_getAuthor": lambda params: author})
    monitor = _monitor(node, fee_recipient="bor_getAuthor")
    headers = {5: BlockHeader(5, "0x" + "05" * 32, "0x" + "04" * 32, 0, "0x" + "00" * 20, None)}
    (recipient,) = monitor.fee_recipients([5], headers).values()
    assert recipient.lower() == author and node.calls == ["bor_getAuthor"]
    bsc = _monitor(_PublicNode({}), fee_recipient="miner")
    miner = "0x" + "4d" * 20
    assert bsc.fee_recipients([5], {5: BlockHeader(5, "0x", "0x", 0, miner, None)}) == {5: miner}
