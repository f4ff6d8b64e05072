"""The spec's transaction ``data`` object, field for field."""

from __future__ import annotations

from typing import Any

from arbmonitor.timeutil import utc_isoformat
from transactions.models import ArbitrageTransaction


def transaction_data(tx: ArbitrageTransaction) -> dict[str, Any]:
    """Serialize a stored arbitrage transaction as the WebSocket spec's ``data`` object.

    Beyond the spec: ``contract_address`` (the contract the sender called), ``venues`` (the
    protocol family of each pool in ``pools_involved``), ``outcome`` (profit / loss / mixed),
    ``profits`` (per token, raw amounts as strings, ``usd`` null when unpriced),
    ``builder_payment_usd`` (null: not measured) and ``price_source``.
    """
    return {
        "id": tx.pk,
        "chain_id": tx.chain_id,
        "tx_hash": tx.tx_hash,
        "from_address": tx.from_address,
        "block_number": tx.block_number,
        "block_timestamp": utc_isoformat(tx.block_timestamp),
        "gas_price_gwei": float(tx.gas_price_gwei),
        "gas_used": tx.gas_used,
        "gas_cost_native": float(tx.gas_cost_native),
        "gas_cost_usd": float(tx.gas_cost_usd),
        "swap_count": tx.swap_count,
        "strategy": tx.strategy,
        "profit_gross_usd": float(tx.profit_gross_usd),
        "profit_net_usd": float(tx.profit_net_usd),
        "pools_involved": list(tx.pools_involved),
        "tokens_involved": list(tx.tokens_involved),
        "detected_at": utc_isoformat(tx.detected_at),
        "contract_address": tx.contract_address,
        "venues": list(tx.venues),
        "outcome": tx.outcome,
        "profits": list(tx.profits),
        "builder_payment_usd": None if tx.builder_payment_usd is None else float(tx.builder_payment_usd),
        "price_source": tx.price_source,
    }
