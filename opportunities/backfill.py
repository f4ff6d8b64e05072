"""The opportunities kind of ``manage.py backfill``: the pool scanner replaying history (see ``PoolScanner``)."""

from __future__ import annotations

from typing import Any

from chains.config import ChainConfig
from evm.rpc import ChainClient
from opportunities.scanner import PoolScanner


def backfill_processor(config: ChainConfig, client: ChainClient, options: dict[str, Any]) -> PoolScanner:
    """A pool scanner of its own: its history market carries over from one backfill batch to the next."""
    return PoolScanner(config.chain_id, config=config, client=client)
