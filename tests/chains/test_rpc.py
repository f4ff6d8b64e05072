"""ChainClient against a real anvil devnet."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from eth_utils import to_checksum_address

from dexes.uniswap_v2.events import PAIR_CREATED_TOPIC, SWAP_TOPIC, SYNC_TOPIC, decode_sync
from evm.rpc import Call, ChainClient, ChainIdMismatch, log_from_json
from tests.chains.conftest import client_for, config_for

pytestmark = pytest.mark.integration

GET_RESERVES = bytes.fromhex("0902f1ac")


@pytest.fixture
def busy56(net56: Any) -> Any:
    """devnet 56 after a few blocks of simulated trading (reverted after the test)."""
    net56.simulate(4, seed=7)
    return net56


def test_logs_by_range_equal_what_the_chain_emitted(busy56: Any, client56: ChainClient) -> None:
    head = client56.block_number()
    topics = [[SYNC_TOPIC, SWAP_TOPIC, PAIR_CREATED_TOPIC]]
    ours = client56.get_logs(0, head, topics=topics)
    # Ground truth: web3.py's own eth_getLogs on the same node.
    raw = busy56.w3.eth.get_logs({"fromBlock": 0, "toBlock": head, "topics": topics})
    theirs = [
        log_from_json(
            {
                "blockNumber": r["blockNumber"],
                "blockHash": "0x" + bytes(r["blockHash"]).hex(),
                "transactionHash": "0x" + bytes(r["transactionHash"]).hex(),
                "transactionIndex": r["transactionIndex"],
                "logIndex": r["logIndex"],
                "address": r["address"],
                "topics": ["0x" + bytes(t).hex() for t in r["topics"]],
                "data": "0x" + bytes(r["data"]).hex(),
            }
        )
        for r in raw
    ]
    assert ours == sorted(theirs, key=lambda log: (log.block_number, log.log_index))
    assert {log.topic0 for log in ours} == {SYNC_TOPIC, SWAP_TOPIC, PAIR_CREATED_TOPIC}
    assert ours == sorted(ours, key=lambda log: (log.block_number, log.log_index))


def test_getlogs_and_block_receipts_sources_agree(busy56: Any, client56: ChainClient) -> None:
    head = client56.block_number()
    for topics in ([[SYNC_TOPIC]], [[SWAP_TOPIC, SYNC_TOPIC]], None):
        by_logs = client56.get_logs(1, head, topics=topics, source="eth_getLogs")
        by_receipts = client56.get_logs(1, head, topics=topics, source="eth_getBlockReceipts")
        assert by_logs == by_receipts
        assert by_logs
    pool = busy56.manifest["pools"][0]["address"]
    only_pool = client56.get_logs(1, head, topics=[[SYNC_TOPIC]], addresses=[pool], source="eth_getBlockReceipts")
    assert only_pool == client56.get_logs(1, head, topics=[[SYNC_TOPIC]], addresses=[pool])
    assert {log.address for log in only_pool} == {pool}


def test_log_chunking_covers_the_range_exactly(busy56: Any, config56: Any) -> None:
    client = client_for(config56, log_chunk_blocks=7)
    head = client.block_number()
    chunked = client.get_logs(0, head, topics=[[SYNC_TOPIC]])
    assert chunked == client_for(config56).get_logs(0, head, topics=[[SYNC_TOPIC]])
    assert client.method_counts["eth_getLogs"] == -(-(head + 1) // 7)


def test_reserves_from_last_sync_equal_get_reserves(busy56: Any, client56: ChainClient) -> None:
    head = client56.block_number()
    last: dict[str, tuple[int, int]] = {}
    for log in client56.get_logs(0, head, topics=[[SYNC_TOPIC]]):
        last[log.address] = decode_sync(log)
    pools = [p["address"] for p in busy56.manifest["pools"]]
    results = client56.multicall([Call(p, GET_RESERVES) for p in pools], block=head)
    for pool, result in zip(pools, results, strict=True):
        assert result.ok
        r0, r1 = int.from_bytes(result.data[:32], "big"), int.from_bytes(result.data[32:64], "big")
        assert last[pool] == (r0, r1)


def test_block_headers_are_batched_and_linked(client56: ChainClient) -> None:
    head = client56.block_number()
    client56.reset_counters()
    headers = client56.get_block_headers(list(range(head - 9, head + 1)))
    assert client56.request_count == 1 and client56.call_count == 10
    assert [h.number for h in headers] == list(range(head - 9, head + 1))
    for parent, child in itertools.pairwise(headers):
        assert child.parent_hash == parent.hash
    assert client56.get_block_header("latest") == headers[-1]


def test_multicall_chunks_into_one_round_trip(busy56: Any, config56: Any) -> None:
    client = client_for(config56, multicall_chunk=4)
    pools = [p["address"] for p in busy56.manifest["pools"]]
    client.block_number()  # chain id check out of the way
    client.reset_counters()
    results = client.multicall([Call(p, GET_RESERVES) for p in pools])
    assert len(results) == len(pools) and all(r.ok for r in results)
    assert client.method_counts["eth_call"] == -(-len(pools) // 4)
    assert client.request_count == 1  # the chunks travel as one JSON-RPC batch


def test_multicall_reports_failures_per_call(busy56: Any, client56: ChainClient) -> None:
    pool = busy56.manifest["pools"][0]["address"]
    no_code = to_checksum_address("0x" + "42" * 20)
    results = client56.multicall(
        [Call(pool, GET_RESERVES), Call(pool, b"\xde\xad\xbe\xef"), Call(no_code, GET_RESERVES)]
    )
    assert results[0].ok
    assert not results[1].success
    assert results[2].success and not results[2].ok  # no code: "succeeds" with no data


def test_receipts_and_transactions(busy56: Any, client56: ChainClient) -> None:
    head = client56.block_number()
    swaps = client56.get_logs(head - 3, head, topics=[[SWAP_TOPIC]])
    hashes = sorted({log.tx_hash for log in swaps})
    assert hashes
    client56.reset_counters()
    receipts = client56.get_receipts([*hashes, "0x" + "00" * 32])
    assert client56.request_count == 1
    assert set(receipts) == set(hashes)
    for h in hashes:
        receipt = receipts[h]
        assert receipt.status == 1 and receipt.gas_used > 0
        assert [log for log in receipt.logs if log.topic0 == SWAP_TOPIC] == [log for log in swaps if log.tx_hash == h]
    txs = client56.get_transactions(hashes)
    assert all(txs[h].from_address == receipts[h].from_address for h in hashes)


def test_chain_id_mismatch_is_refused(net56: Any) -> None:
    config = config_for(net56, chain_id=137)
    client = client_for(config)
    with pytest.raises(ChainIdMismatch) as caught:
        client.block_number()
    message = str(caught.value)
    assert net56.rpc_url in message and "56" in message and "137" in message
