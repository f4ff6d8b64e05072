"""The transactions kind of ``manage.py backfill``: the arbitrage monitor over a past range."""

from __future__ import annotations

from typing import Any

from chains.config import ChainConfig
from evm.rpc import ChainClient
from transactions.monitor import ArbitrageMonitor


def backfill_processor(config: ChainConfig, client: ChainClient, options: dict[str, Any]) -> ArbitrageMonitor:
    """``options["measure_coinbase"]``: False with ``--skip-tips``, else None (TX_MEASURE_COINBASE)."""
    return ArbitrageMonitor(config=config, client=client, measure_coinbase=options.get("measure_coinbase"))
