"""Pricing, idempotent recording, broadcast after commit, capture linking and reorg rollback."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from opportunities.capture import opportunity_capture_sweep
from opportunities.models import Opportunity
from streaming.broadcast import broadcast_flush
from tests.factories import ChainFactory, OpportunityFactory, PoolFactory, tx_arbitrage, tx_arbitrages
from transactions.flows import TxArbitrage
from transactions.models import ArbitrageCycle, ArbitrageTransaction
from transactions.services import BlockPrices, TxFacts, transaction_price, transaction_record, transactions_rollback

pytestmark = pytest.mark.django_db

WBNB = "0x" + "bb" * 20
USDT = "0x" + "55" * 20


def arbitrage(pools: list[str], start_token: str, start: int, end: int, tokens: list[str] | None = None) -> TxArbitrage:
    return tx_arbitrage(pools, start_token, start, end, tokens)


def facts(tx_hash: str = "0x" + "01" * 32, block: int = 1000, sender: str = "0x" + "ab" * 20, **kw: Any) -> TxFacts:
    return TxFacts(
        tx_hash=tx_hash,
        from_address=sender,
        block_number=block,
        block_hash="0x" + "ee" * 32,
        block_timestamp=datetime(2025, 11, 16, 16, 54, 40, tzinfo=UTC),
        gas_used=kw.pop("gas_used", 250_000),
        effective_gas_price=kw.pop("effective_gas_price", 5_000_000_007),
        **kw,
    )


PRICES = BlockPrices(
    native_usd=Decimal("600"),
    token_usd={WBNB: Decimal("600"), USDT: Decimal("1")},
    decimals={WBNB: 18, USDT: 18},
)


def test_price_gross_gas_net_exact() -> None:
    arb = arbitrage(["0xP1", "0xP2"], WBNB, 10**18, 10**18 + 5 * 10**15)  # +0.005 WBNB = $3
    priced = transaction_price(facts=facts(), arbitrage=arb, prices=PRICES)
    f = priced.fields
    assert f["gas_price_gwei"] == Decimal("5.000000007")
    assert f["gas_cost_native"] == Decimal("0.00125000000175")  # 250000 × 5000000007 wei, exact
    assert f["gas_cost_usd"] == Decimal("0.750000")
    assert f["profit_gross_usd"] == Decimal("3.000000")
    assert f["profit_net_usd"] == Decimal("2.250000")
    assert (f["profit_token"], f["profit_raw"]) == (WBNB, 5 * 10**15)
    assert (f["swap_count"], f["strategy"], f["pools_involved"]) == (2, "2-hop", ["0xP1", "0xP2"])


def test_losing_after_gas_is_stored_with_negative_net() -> None:
    arb = arbitrage(["0xP1", "0xP2"], USDT, 10**18, 10**18 + 10**17)  # +$0.10
    priced = transaction_price(facts=facts(), arbitrage=arb, prices=PRICES)
    assert priced.fields["profit_net_usd"] == Decimal("-0.650000")


def test_two_cycles_with_different_start_tokens_have_no_shared_raw_profit() -> None:
    arbs = [
        arbitrage(["0xP1", "0xP2"], WBNB, 10**18, 10**18 + 10**15),
        arbitrage(["0xP3", "0xP4", "0xP5"], USDT, 100, 10**18 + 100),
    ]
    f = transaction_price(facts=facts(), arbitrage=tx_arbitrages(*arbs), prices=PRICES).fields
    assert (f["strategy"], f["swap_count"]) == ("2-hop+3-hop", 5)
    assert (f["profit_token"], f["profit_raw"]) == ("", None)
    assert f["profit_gross_usd"] == Decimal("1.600000")
    assert f["pools_involved"] == ["0xP1", "0xP2", "0xP3", "0xP4", "0xP5"]


def test_unpriceable_token_keeps_exact_raw_profit_and_no_usd() -> None:
    """An unpriced token is unpriced (null USD), not $0, and adds nothing to the gross."""
    odd = "0x" + "0d" * 20
    priced = transaction_price(facts=facts(), arbitrage=arbitrage(["0xP1", "0xP2"], odd, 7, 9), prices=PRICES)
    assert priced.cycles[0]["profit_raw"] == 2 and priced.cycles[0]["profit_usd"] is None
    assert priced.fields["profits"] == [{"token": odd, "raw": "2", "usd": None}]
    assert priced.fields["profit_gross_usd"] == Decimal("0")
    assert priced.fields["outcome"] == "profit"


def test_no_state_at_the_parent_block_leaves_every_usd_figure_empty() -> None:
    unpriced = BlockPrices(native_usd=None, decimals=PRICES.decimals, source="unavailable")
    arb = tx_arbitrage(["0xP1", "0xP2"], WBNB, 10**18, 2 * 10**18, coinbase_wei=10**15)
    f = transaction_price(facts=facts(), arbitrage=arb, prices=unpriced).fields
    assert f["price_source"] == "unavailable"
    assert f["profits"] == [{"token": WBNB, "raw": str(10**18), "usd": None}]
    assert f["builder_payments"] == [{"token": "native", "raw": str(10**15), "usd": None}]
    assert f["builder_payment_usd"] is None and f["coinbase_transfer_wei"] == 10**15


def test_builder_payments_native_and_token_are_subtracted_from_net() -> None:
    arb = tx_arbitrage(["0xP1", "0xP2"], WBNB, 10**18, 10**18 + 10**16, coinbase_wei=10**15)  # +$6, $0.60 native
    arb = dataclasses.replace(arb, builder_payments={**arb.builder_payments, USDT: 2 * 10**18})  # $2 in USDT
    f = transaction_price(facts=facts(), arbitrage=arb, prices=PRICES).fields
    assert f["builder_payment_usd"] == Decimal("2.600000")
    assert f["profit_net_usd"] == Decimal("6") - Decimal("0.75") - Decimal("2.6")
    assert {p["token"]: p["raw"] for p in f["builder_payments"]} == {"native": str(10**15), USDT: str(2 * 10**18)}


def test_unmeasured_native_payment_is_empty_not_zero() -> None:
    arb = tx_arbitrage(["0xP1", "0xP2"], WBNB, 10**18, 10**18 + 10**16)  # no trace
    f = transaction_price(facts=facts(), arbitrage=arb, prices=PRICES).fields
    assert f["coinbase_transfer_wei"] is None and f["builder_payment_usd"] is None
    assert f["profit_net_usd"] == Decimal("6") - Decimal("0.75")
    traced = tx_arbitrage(["0xP1", "0xP2"], WBNB, 10**18, 10**18 + 10**16, coinbase_wei=0)
    f = transaction_price(facts=facts(), arbitrage=traced, prices=PRICES).fields
    assert f["coinbase_transfer_wei"] == 0 and f["builder_payment_usd"] == Decimal("0")


def test_record_is_idempotent_and_broadcasts_once_after_commit(django_capture_on_commit_callbacks: Any) -> None:
    ChainFactory()
    layer = get_channel_layer()
    inbox = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("transactions.56", inbox)
    arb = arbitrage(["0xP1", "0xP2"], WBNB, 10**18, 10**18 + 10**15)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            tx, created = transaction_record(chain_id=56, facts=facts(), arbitrage=arb, prices=PRICES)
            again, created_again = transaction_record(chain_id=56, facts=facts(), arbitrage=arb, prices=PRICES)
        assert (created, created_again, again.pk) == (True, False, tx.pk)
        assert ArbitrageTransaction.objects.count() == 1 and ArbitrageCycle.objects.count() == 1
        assert len(callbacks) == 1  # one broadcast, queued for after the commit
        callbacks[0]()
        assert broadcast_flush(5.0)
        message = async_to_sync(layer.receive)(inbox)
        assert tx.tx_hash in json.dumps(message)
        assert f'"id": {tx.pk}' in json.dumps(message).replace('\\"', '"')
    finally:
        async_to_sync(layer.group_discard)("transactions.56", inbox)


def test_capture_marks_opportunities_of_traded_pools_in_the_window() -> None:
    pool, other = PoolFactory(), PoolFactory()
    inside = OpportunityFactory(pool=pool, block_number=997)
    too_old = OpportunityFactory(pool=pool, block_number=996)
    same_block = OpportunityFactory(pool=pool, block_number=1000)  # state after the tx's block: not captured by it
    untouched = OpportunityFactory(pool=other, block_number=999)
    sender = "0x" + "ab" * 20
    arb = arbitrage([pool.address, "0xP2"], WBNB, 10**18, 10**18 + 10**15)
    tx, _ = transaction_record(chain_id=56, facts=facts(sender=sender), arbitrage=arb, prices=PRICES, broadcast=False)
    for opp in (inside, too_old, same_block, untouched):
        opp.refresh_from_db()
    assert (inside.captured, inside.captured_by, inside.capture_tx_hash) == (True, sender, tx.tx_hash)
    assert inside.captured_at is not None
    assert not too_old.captured and not same_block.captured and not untouched.captured


def test_first_capture_wins() -> None:
    pool = PoolFactory()
    opp = OpportunityFactory(pool=pool, block_number=999)
    first = arbitrage([pool.address, "0xP2"], WBNB, 10**18, 10**18 + 10**15)
    transaction_record(
        chain_id=56,
        facts=facts(tx_hash="0x" + "01" * 32, sender="0x" + "a1" * 20),
        arbitrage=first,
        prices=PRICES,
        broadcast=False,
    )
    transaction_record(
        chain_id=56,
        facts=facts(tx_hash="0x" + "02" * 32, sender="0x" + "a2" * 20),
        arbitrage=first,
        prices=PRICES,
        broadcast=False,
    )
    opp.refresh_from_db()
    assert opp.capture_tx_hash == "0x" + "01" * 32


def test_sweep_links_an_opportunity_recorded_after_the_transaction() -> None:
    pool = PoolFactory()
    arb = arbitrage([pool.address, "0xP2"], WBNB, 10**18, 10**18 + 10**15)
    tx, _ = transaction_record(chain_id=56, facts=facts(block=1000), arbitrage=arb, prices=PRICES, broadcast=False)
    late = OpportunityFactory(pool=pool, block_number=998)  # the pool scanner was behind
    assert opportunity_capture_sweep(chain_id=56, from_block=990, to_block=1000) == 1
    late.refresh_from_db()
    assert (late.captured, late.capture_tx_hash) == (True, tx.tx_hash)
    assert opportunity_capture_sweep(chain_id=56, from_block=990, to_block=1000) == 0


def test_capture_links_do_not_depend_on_which_scanner_commits_first() -> None:
    """Issue 11 #6: the pool scanner lags; its opportunities are written after the arbitrages that took them."""
    from opportunities.services import OpportunityDraft, opportunity_record_many

    pool = PoolFactory()
    first = arbitrage([pool.address, "0xP2"], WBNB, 10**18, 10**18 + 10**15)
    transaction_record(chain_id=56, facts=facts(tx_hash="0x" + "01" * 32, block=1000), arbitrage=first,
                       prices=PRICES, broadcast=False)  # fmt: skip
    transaction_record(chain_id=56, facts=facts(tx_hash="0x" + "02" * 32, block=1001), arbitrage=first,
                       prices=PRICES, broadcast=False)  # fmt: skip
    template = OpportunityFactory.build(pool=pool, block_number=998)
    draft = OpportunityDraft(
        chain_id=56, pool_id=pool.pk, pool_name="X-Y", pool_address=pool.address, block_number=998,
        block_hash="0x" + "98" * 32, imbalance_pct=1.0, profit_usd=Decimal(1), profit_native=Decimal(0),
        reserve0=template.reserve0, reserve1=template.reserve1, start_token=WBNB, amount_in=1, amount_out=2,
        profit_raw=1, gas_estimate=150_000, gas_cost_usd=Decimal(0),
    )  # fmt: skip
    (late,) = opportunity_record_many(drafts=[draft], broadcast=False)  # no sweep called by anyone
    late.refresh_from_db()
    assert (late.captured, late.capture_tx_hash) == (True, "0x" + "01" * 32)  # the first arbitrage after it


def test_rollback_removes_orphaned_transactions_and_releases_their_captures() -> None:
    pool = PoolFactory()
    opp = OpportunityFactory(pool=pool, block_number=1004)
    keep = arbitrage(["0xP8", "0xP9"], WBNB, 10**18, 10**18 + 10**15)
    gone = arbitrage([pool.address, "0xP2"], WBNB, 10**18, 10**18 + 10**15)
    transaction_record(
        chain_id=56,
        facts=facts(tx_hash="0x" + "01" * 32, block=1000),
        arbitrage=keep,
        prices=PRICES,
        broadcast=False,
    )
    transaction_record(
        chain_id=56,
        facts=facts(tx_hash="0x" + "02" * 32, block=1005),
        arbitrage=gone,
        prices=PRICES,
        broadcast=False,
    )
    opp.refresh_from_db()
    assert opp.captured
    assert transactions_rollback(chain_id=56, from_block=1001) == 1
    assert list(ArbitrageTransaction.objects.values_list("block_number", flat=True)) == [1000]
    assert ArbitrageCycle.objects.count() == 1
    opp.refresh_from_db()
    assert (opp.captured, opp.captured_by, opp.capture_tx_hash, opp.captured_at) == (False, None, None, None)
    assert Opportunity.objects.count() == 1
