"""Fixtures for chain access and scanning tests: the devnet, clients, a faulty RPC proxy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from chains.clients import chain_client_new
from chains.config import ChainConfig, chain_config_parse
from evm.rpc import ChainClient
from tests.chains.faulty_rpc import FaultyRpc

# Fast retries: tests assert what happens, never how long it takes.
FAST = {"timeout": 2.0, "max_retries": 2, "backoff_base": 0.01, "backoff_max": 0.05}


def config_for(net: Any, **changes: Any) -> ChainConfig:
    data = dict(net.manifest)
    data.update(changes)
    return chain_config_parse(data, source=str(net.manifest_path), environ={})


def client_for(config: ChainConfig, **overrides: Any) -> ChainClient:
    return chain_client_new(config, **{**FAST, **overrides})


def settle(net: Any, *, polls: int = 200) -> None:
    """Wait until the devnet's head stops moving.

    Right after deployment anvil can still be mining the deployment's last
    transactions for a moment; tests that compare heads need a still chain.
    """
    last = net.block_number()
    for _ in range(polls):
        time.sleep(0.05)
        now = net.block_number()
        if now == last:
            return
        last = now


@pytest.fixture
def net56(devnet_56: Any) -> Iterator[Any]:
    """devnet 56 with everything the test does reverted afterwards."""
    settle(devnet_56)
    snapshot = devnet_56.snapshot()
    yield devnet_56
    devnet_56.revert(snapshot)


@pytest.fixture
def config56(net56: Any) -> ChainConfig:
    return config_for(net56)


@pytest.fixture
def client56(config56: ChainConfig) -> Iterator[ChainClient]:
    client = client_for(config56)
    yield client
    client.close()


@pytest.fixture
def faulty(devnet_56: Any) -> Iterator[FaultyRpc]:
    settle(devnet_56)
    proxy = FaultyRpc(devnet_56.rpc_url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def faulty2(devnet_56: Any) -> Iterator[FaultyRpc]:
    proxy = FaultyRpc(devnet_56.rpc_url).start()
    yield proxy
    proxy.stop()
