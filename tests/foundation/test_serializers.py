"""The serializers produce the spec's ``data`` objects field for field.

The examples are the streaming spec's own (docs/protocol.md); the deliberate
differences are the ones docs/protocol.md lists: ``id`` is the row id and timestamps carry ``Z``.
"""

from __future__ import annotations

import json

import pytest

from opportunities.serializers import opportunity_data
from tests.factories import ArbitrageTransactionFactory, OpportunityFactory
from transactions.serializers import transaction_data

pytestmark = pytest.mark.django_db

SPEC_OPPORTUNITY = {
    "id": None,
    "chain_id": 56,
    "pool_name": "WBNB-BUSD",
    "pool_address": "0x58F876857a02D6762E0101bb5C46A8c1ED44Dc16",
    "imbalance_pct": 7.82,
    "profit_usd": 45230.50,
    "profit_native": 150.25,
    "reserve0": 1000000000000000000000,
    "reserve1": 2000000000000000000000,
    "block_number": 68286234,
    "detected_at": "2025-11-16T16:54:43.123456",
    "captured": False,
    "captured_by": None,
    "capture_tx_hash": None,
}

SPEC_TRANSACTION = {
    "id": None,
    "chain_id": 56,
    "tx_hash": "0x1234567890abcdef...",
    "from_address": "0xabcdef1234567890...",
    "block_number": 68286235,
    "block_timestamp": "2025-11-16T16:54:40.000000",
    "gas_price_gwei": 5.0,
    "gas_used": 250000,
    "gas_cost_native": 0.00125,
    "gas_cost_usd": 0.75,
    "swap_count": 3,
    "strategy": "3-hop",
    "profit_gross_usd": 1500.00,
    "profit_net_usd": 1499.25,
    "pools_involved": ["0xpool1...", "0xpool2...", "0xpool3..."],
    "tokens_involved": [],
    "detected_at": "2025-11-16T16:54:43.123456",
}


def _expected(spec: dict[str, object], row_id: int, **overrides: object) -> dict[str, object]:
    expected = dict(spec, id=row_id, **overrides)
    for key in ("detected_at", "block_timestamp"):
        if key in expected:
            expected[key] = f"{expected[key]}Z"
    return expected


def test_opportunity_data_equals_the_spec_example() -> None:
    opportunity = OpportunityFactory(
        pool__token0__symbol="WBNB",
        pool__token1__symbol="BUSD",
        pool__address="0x58F876857a02D6762E0101bb5C46A8c1ED44Dc16",
        block_number=68286234,
    )
    opportunity.refresh_from_db()
    data = opportunity_data(opportunity)
    # The spec's fields in the spec's order, then the documented additive ones (docs/protocol.md).
    assert list(data) == [*SPEC_OPPORTUNITY, "venues", "gas_price_wei", "gas_price_source"]
    assert {k: v for k, v in data.items() if k in SPEC_OPPORTUNITY} == _expected(SPEC_OPPORTUNITY, opportunity.pk)
    assert data["venues"] == []  # a row without hop venues (stored before the field existed)
    assert data["gas_price_wei"] is None and data["gas_price_source"] is None  # likewise: unknown, not 0
    assert json.loads(json.dumps(data)) == data  # JSON-safe, reserves stay exact ints


def test_transaction_data_equals_the_spec_example() -> None:
    tx = ArbitrageTransactionFactory(
        tx_hash=SPEC_TRANSACTION["tx_hash"],
        from_address=SPEC_TRANSACTION["from_address"],
        pools_involved=SPEC_TRANSACTION["pools_involved"],
        tokens_involved=[],
    )
    tx.refresh_from_db()
    data = transaction_data(tx)
    # The spec's fields, in its order, then ours (README: where we differ from the spec).
    extras = ["contract_address", "venues", "outcome", "profits", "builder_payment_usd", "price_source"]
    assert list(data) == [*SPEC_TRANSACTION, *extras]
    assert {k: data[k] for k in SPEC_TRANSACTION} == _expected(SPEC_TRANSACTION, tx.pk)


def test_opportunity_capture_fields_serialize() -> None:
    opportunity = OpportunityFactory(captured=True, captured_by="0x" + "ab" * 20, capture_tx_hash="0x" + "cd" * 32)
    data = opportunity_data(opportunity)
    assert (data["captured"], data["captured_by"], data["capture_tx_hash"]) == (
        True,
        "0x" + "ab" * 20,
        "0x" + "cd" * 32,
    )
