"""RPC failures without a public endpoint: a misbehaving proxy in front of a real anvil."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chains.config import ChainConfig
from devnet.anvil import free_port
from dexes.uniswap_v2.events import SYNC_TOPIC
from evm.rpc import ChainClient, ChainIdMismatch, LogRangeTooLarge, RpcUnavailable
from tests.chains.conftest import client_for, config_for
from tests.chains.faulty_rpc import FaultyRpc

pytestmark = pytest.mark.integration


def _client(devnet: Any, *urls: str, **overrides: Any) -> ChainClient:
    config: ChainConfig = config_for(devnet, rpc_urls=list(urls), **overrides.pop("config", {}))
    return client_for(config, **overrides)


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused


def test_http_429_with_retry_after_is_backed_off(devnet_56: Any, faulty: FaultyRpc) -> None:
    client = _client(devnet_56, faulty.url)
    client.block_number()
    faulty.set("http429", fail_times=2, retry_after="0")
    assert client.block_number() == devnet_56.block_number()
    assert faulty.faults == 2


def test_json_rpc_rate_limit_errors_are_backed_off(devnet_56: Any, faulty: FaultyRpc) -> None:
    client = _client(devnet_56, faulty.url)
    head = client.block_number()
    faulty.set("ratelimit", fail_times=2)
    headers = client.get_block_headers([head - 1, head])  # a batch: every item rate-limited
    assert [h.number for h in headers] == [head - 1, head]
    assert faulty.faults == 2


def test_refused_connection_fails_over_to_the_next_url(devnet_56: Any, faulty: FaultyRpc) -> None:
    dead = _dead_url()
    client = _client(devnet_56, dead, faulty.url)
    assert client.block_number() == devnet_56.block_number()
    assert client.current_url == faulty.url
    client.block_number()  # sticks with the working URL
    assert faulty.requests >= 2


def test_timeout_fails_over_to_the_next_url(devnet_56: Any, faulty: FaultyRpc, faulty2: FaultyRpc) -> None:
    client = _client(devnet_56, faulty.url, faulty2.url, timeout=0.3)
    faulty.set("slow", delay=1.5)
    assert client.block_number() == devnet_56.block_number()
    assert client.current_url == faulty2.url


def test_everything_failing_raises_rpc_unavailable_naming_each_url(devnet_56: Any, faulty: FaultyRpc) -> None:
    dead = _dead_url()
    client = _client(devnet_56, dead, faulty.url, max_retries=1)
    faulty.set("http429", retry_after="0")
    with pytest.raises(RpcUnavailable) as caught:
        client.block_number()
    message = str(caught.value)
    assert dead in message and faulty.url in message and "429" in message and "eth_blockNumber" in message
    assert "Connection refused" in message


def test_too_many_results_halves_the_range(devnet_56: Any, faulty: FaultyRpc) -> None:
    client = _client(devnet_56, faulty.url, log_chunk_blocks=1000)
    head = client.block_number()
    faulty.set("ok", max_log_blocks=8)
    logs = client.get_logs(0, head, topics=[[SYNC_TOPIC]])
    assert logs == client_for(config_for(devnet_56)).get_logs(0, head, topics=[[SYNC_TOPIC]])
    refused = [r for r in faulty.log_ranges if r[1] - r[0] + 1 > 8]
    served = sorted(r for r in faulty.log_ranges if r[1] - r[0] + 1 <= 8)
    assert refused  # it did have to halve
    # The served ranges tile [0, head] exactly: no gap, no overlap.
    assert served[0][0] == 0 and served[-1][1] == head
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(served))


def test_a_single_block_too_large_is_raised(devnet_56: Any, faulty: FaultyRpc) -> None:
    client = _client(devnet_56, faulty.url)
    faulty.set("ok", max_log_blocks=0)
    with pytest.raises(LogRangeTooLarge):
        client.get_logs(5, 5, topics=[[SYNC_TOPIC]])


def test_disabled_getlogs_falls_back_to_block_receipts(devnet_56: Any, faulty: FaultyRpc) -> None:
    head = devnet_56.block_number()
    expected = client_for(config_for(devnet_56)).get_logs(0, head, topics=[[SYNC_TOPIC]])
    faulty.set("ok", getlogs_disabled=True)
    configured = _client(devnet_56, faulty.url, config={"log_source": "eth_getBlockReceipts"})
    assert configured.get_logs(0, head, topics=[[SYNC_TOPIC]]) == expected
    assert configured.method_counts["eth_getLogs"] == 0
    surprised = _client(devnet_56, faulty.url)  # configured for eth_getLogs, the node refuses it
    assert surprised.get_logs(0, head, topics=[[SYNC_TOPIC]]) == expected
    assert surprised.log_source == "eth_getBlockReceipts"


def test_failover_to_an_endpoint_of_another_chain_is_refused(
    devnet_56: Any, faulty: FaultyRpc, faulty2: FaultyRpc
) -> None:
    faulty2.set("wrong_chain", wrong_chain_id=97)
    client = _client(devnet_56, faulty.url, faulty2.url)
    client.block_number()
    faulty.set("refuse")
    with pytest.raises(ChainIdMismatch) as caught:
        client.block_number()
    assert faulty2.url in str(caught.value) and "97" in str(caught.value) and "56" in str(caught.value)


def test_websocket_transport(devnet_56: Any) -> None:
    ws_url = devnet_56.rpc_url.replace("http://", "ws://")
    client = _client(devnet_56, ws_url)
    head = client.block_number()
    assert head == devnet_56.block_number()
    headers = client.get_block_headers([head - 2, head - 1, head])
    assert headers[-1].parent_hash == headers[-2].hash
    http = client_for(config_for(devnet_56))
    assert client.get_logs(0, head, topics=[[SYNC_TOPIC]]) == http.get_logs(0, head, topics=[[SYNC_TOPIC]])
    client.close()
