"""The chain clients of this process: ``evm.rpc.ChainClient`` configured from the registry and the RPC_* settings."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from arbmonitor import metrics
from chains.config import ChainConfig
from evm.rpc import ChainClient


def rpc_options() -> dict[str, Any]:
    """The client options the settings give (docs/configuration.md)."""
    return {
        "timeout": settings.RPC_TIMEOUT_SECONDS,
        "max_retries": settings.RPC_MAX_RETRIES,
        "backoff_base": settings.RPC_BACKOFF_BASE_SECONDS,
        "backoff_max": settings.RPC_BACKOFF_MAX_SECONDS,
        "batch_size": settings.RPC_BATCH_SIZE,
        "log_chunk_blocks": settings.SCAN_LOG_CHUNK_BLOCKS,
        "multicall_chunk": settings.RPC_MULTICALL_CHUNK,
        "observer": metrics.RPC_OBSERVER,
    }


def chain_client_new(config: ChainConfig, **overrides: Any) -> ChainClient:
    """A new client of the chain with the settings' options; keyword overrides win."""
    return ChainClient.from_config(config, **{**rpc_options(), **overrides})


_CLIENTS: dict[tuple[int, tuple[str, ...], str], ChainClient] = {}
_CLIENTS_LOCK = threading.Lock()


def chain_client(config: ChainConfig) -> ChainClient:
    """The process-wide client of a chain (keeps HTTP connections warm between task runs)."""
    key = (config.chain_id, tuple(config.rpc_urls), config.log_source)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = chain_client_new(config)
        return client
