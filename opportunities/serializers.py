"""The spec's opportunity ``data`` object, field for field."""

from __future__ import annotations

from typing import Any

from arbmonitor.timeutil import utc_isoformat
from opportunities.models import Opportunity


def opportunity_data(opportunity: Opportunity) -> dict[str, Any]:
    """Serialize a stored opportunity as the WebSocket spec's ``data`` object.

    Reserves are raw integers (JSON numbers, exact in Python; the spec prints them
    so). USD and native figures are floats, as the spec shows them.
    """
    return {
        "id": opportunity.pk,
        "chain_id": opportunity.chain_id,
        "pool_name": opportunity.pool_name,
        "pool_address": opportunity.pool_address,
        "imbalance_pct": None if opportunity.imbalance_pct is None else round(float(opportunity.imbalance_pct), 4),
        "profit_usd": float(opportunity.profit_usd),
        "profit_native": float(opportunity.profit_native),
        "reserve0": int(opportunity.reserve0),
        "reserve1": int(opportunity.reserve1),
        "block_number": opportunity.block_number,
        "detected_at": utc_isoformat(opportunity.detected_at),
        "captured": opportunity.captured,
        "captured_by": opportunity.captured_by,
        "capture_tx_hash": opportunity.capture_tx_hash,
        # Additive to the spec (docs/protocol.md): each hop's protocol family, in swap order.
        "venues": list(opportunity.venues or []),
        # Additive too: the gas price the cost is at (wei) and what set it (opportunities.gas.GasPriceSource).
        "gas_price_wei": None if opportunity.gas_price_wei is None else int(opportunity.gas_price_wei),
        "gas_price_source": opportunity.gas_price_source or None,
    }
