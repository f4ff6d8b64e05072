"""Token metadata, pool discovery and reserves against the devnet's real contracts."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chains.config import ChainConfig
from chains.models import Pool, Token
from chains.pools import (
    pool_discover,
    pool_register_created,
    pool_reserves_apply_sync,
    pool_reserves_fetch,
    pool_reserves_rollback,
)
from chains.services import chain_registry_sync
from chains.tokens import token_metadata_fetch, token_metadata_refresh
from devnet.rpc import abi
from dexes.uniswap_v2.events import PAIR_CREATED_TOPIC, SYNC_TOPIC
from evm.abis import ALL_PAIRS_LENGTH, GET_PAIR, GET_RESERVES, SYMBOL, decode_address, selector
from evm.rpc import ChainClient

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_selectors() -> None:
    assert GET_RESERVES.hex() == "0902f1ac" and SYMBOL.hex() == "95d89b41"
    assert ALL_PAIRS_LENGTH.hex() == "574f2ba3" and GET_PAIR.hex() == "e6a43905"
    assert selector("transfer(address,uint256)").hex() == "a9059cbb"


def _odd(net: Any, kind: str) -> str:
    return next(t["address"] for t in net.manifest["odd_tokens"] if t["kind"] == kind)


def test_token_metadata_of_odd_tokens(net56: Any, client56: ChainClient) -> None:
    plain = net56.manifest["tokens"]
    addresses = [t["address"] for t in plain] + [t["address"] for t in net56.manifest["odd_tokens"]]
    client56.block_number()
    client56.reset_counters()
    meta = token_metadata_fetch(client=client56, addresses=addresses)
    assert client56.request_count == 1  # every token, three reads each, one round trip
    for t in plain:
        assert (meta[t["address"]].symbol, meta[t["address"]].decimals) == (t["symbol"], t["decimals"])
    assert meta[_odd(net56, "bytes32_symbol")].symbol == "B32"  # bytes32 symbol()
    assert meta[_odd(net56, "decimals_reverts")].decimals is None  # decimals() reverts
    assert meta[_odd(net56, "decimals_reverts")].symbol == "NODEC"


def test_registry_sync_then_refresh_fills_odd_tokens_and_detects_fee_on_transfer(
    net56: Any, config56: ChainConfig, client56: ChainClient
) -> None:
    chain_registry_sync(config=config56)  # odd tokens arrive through pools, with no metadata
    token_metadata_refresh(chain_id=56, client=client56)
    tokens = {t.address: t for t in Token.objects.filter(chain_id=56)}
    assert tokens[_odd(net56, "bytes32_symbol")].symbol == "B32"
    assert tokens[_odd(net56, "decimals_reverts")].decimals is None
    assert tokens[_odd(net56, "fee_on_transfer")].fee_on_transfer is True
    plain = [t["address"] for t in net56.manifest["tokens"]]
    assert not any(tokens[a].fee_on_transfer for a in plain)
    assert all(tokens[a].decimals is not None for a in plain)


def _manifest_pools(net: Any, *, odd: bool) -> set[str]:
    return {p["address"] for p in net.manifest["pools"] if odd or not p.get("odd")}


def test_discovery_via_all_pairs(net56: Any, config56: ChainConfig, client56: ChainClient) -> None:
    block = client56.block_number()
    pools = pool_discover(config=config56, client=client56, allowlist=None, block=block)
    assert {p.address for p in pools} == _manifest_pools(net56, odd=True)
    onchain = pool_reserves_fetch(client=client56, pools=[p.address for p in pools], block=block)
    for pool in Pool.objects.filter(chain_id=56):
        assert (pool.reserve0, pool.reserve1) == onchain[pool.address] and pool.last_block == block
        assert pool.dex is not None
    again = pool_discover(config=config56, client=client56, allowlist=None)  # idempotent
    assert sorted(p.address for p in again) == sorted(p.address for p in pools)
    assert Pool.objects.filter(chain_id=56).count() == len(pools)


def test_discovery_with_allowlist_via_get_pair(
    net56: Any, config56: ChainConfig, client56: ChainClient, settings: Any
) -> None:
    by_enumeration = pool_discover(config=config56, client=client56)  # default allowlist: the registry's tokens
    assert {p.address for p in by_enumeration} == _manifest_pools(net56, odd=False)
    Pool.objects.all().delete()
    settings.POOL_ENUMERATE_MAX_PAIRS = 0  # as if the factories were mainnet-sized
    by_lookup = pool_discover(config=config56, client=client56)
    assert {p.address for p in by_lookup} == _manifest_pools(net56, odd=False)


def test_discovery_via_pair_created(net56: Any, config56: ChainConfig, client56: ChainClient) -> None:
    pool_discover(config=config56, client=client56)
    dex = net56.manifest["dexes"][0]
    existing = {frozenset((p["token0"], p["token1"])) for p in net56.manifest["pools"] if p["dex"] == dex["name"]}
    tokens = [t["address"] for t in net56.manifest["tokens"]]
    a, b = next(pair for pair in itertools.combinations(tokens, 2) if frozenset(pair) not in existing)
    start = client56.block_number() + 1
    net56.chain.send(
        net56.manifest["accounts"]["deployer"], dex["factory"], abi("V2Factory").createPair.encode(a, b), gas=6_000_000
    )
    net56.mine(1)
    logs = client56.get_logs(start, start, topics=[[PAIR_CREATED_TOPIC]])
    created = pool_register_created(config=config56, client=client56, logs=logs)
    assert len(created) == 1
    pair = created[0]
    onchain = decode_address(client56.eth_call(dex["factory"], abi("V2Factory").getPair.encode(a, b)))
    assert pair.address == onchain and {pair.token0.address, pair.token1.address} == {a, b}
    assert pair.dex is not None and pair.dex.name == dex["name"]
    assert pool_register_created(config=config56, client=client56, logs=logs) == []  # idempotent


def test_reserves_from_sync_equal_get_reserves(net56: Any, config56: ChainConfig, client56: ChainClient) -> None:
    start = client56.block_number()
    pool_discover(config=config56, client=client56, allowlist=None, block=start)
    net56.simulate(6, seed=11)
    head = client56.block_number()
    logs = client56.get_logs(start + 1, head, topics=[[SYNC_TOPIC]])
    applied = pool_reserves_apply_sync(chain_id=56, logs=logs)
    assert applied
    onchain = pool_reserves_fetch(client=client56, pools=list(applied), block=head)
    for pool in Pool.objects.filter(chain_id=56, address__in=list(applied)):
        assert (pool.reserve0, pool.reserve1) == onchain[pool.address]
        assert pool.last_block == applied[pool.address].block_number
    # A backfill of older blocks never moves reserves backwards.
    first_block = [log for log in logs if log.block_number == start + 1]
    pool_reserves_apply_sync(chain_id=56, logs=first_block)
    for pool in Pool.objects.filter(chain_id=56, address__in=list(applied)):
        assert (pool.reserve0, pool.reserve1) == onchain[pool.address]


def test_reserves_rollback_after_reorg(net56: Any, config56: ChainConfig, client56: ChainClient) -> None:
    ancestor = client56.block_number()
    pool_discover(config=config56, client=client56, allowlist=None, block=ancestor)
    before = {p.address: (p.reserve0, p.reserve1) for p in Pool.objects.filter(chain_id=56)}
    net56.simulate(3, seed=5)
    pool_reserves_apply_sync(chain_id=56, logs=client56.get_logs(ancestor + 1, ancestor + 3, topics=[[SYNC_TOPIC]]))
    assert {p.address: (p.reserve0, p.reserve1) for p in Pool.objects.filter(chain_id=56)} != before
    pool_reserves_rollback(chain_id=56, client=client56, from_block=ancestor + 1)
    assert {p.address: (p.reserve0, p.reserve1) for p in Pool.objects.filter(chain_id=56)} == before


def test_rpc_calls_per_block_do_not_grow_with_pools_tracked(
    net56: Any, config56: ChainConfig, client56: ChainClient
) -> None:
    """The per-batch reads (headers + ranged logs) cost the same with 1 pool tracked or all of them."""
    pool_discover(config=config56, client=client56, allowlist=None)
    head = client56.block_number()
    net56.simulate(3, seed=2)
    costs = []
    for tracked in (1, Pool.objects.count()):
        keep = list(Pool.objects.values_list("address", flat=True)[:tracked])
        client56.reset_counters()
        client56.get_block_headers(list(range(head + 1, head + 4)))
        logs = client56.get_logs(head + 1, head + 3, topics=[[SYNC_TOPIC]])
        pool_reserves_apply_sync(chain_id=56, logs=[log for log in logs if log.address in keep])
        costs.append(client56.request_count)
    assert costs[0] == costs[1] == 2


def test_chains_sync_command(net56: Any, settings: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    settings.CHAIN_REGISTRY_FILES = [str(net56.manifest_path)]
    settings.ENABLED_CHAINS = []
    out = StringIO()
    call_command("chains_sync", "--discover", stdout=out)
    assert "chain 56" in out.getvalue()
    assert Pool.objects.filter(chain_id=56, last_block__isnull=False).count() == len(net56.manifest["pools"])
    # Biswap's pairs carry their own fee, read from swapFee() (two at 10 bps, the rest at the 20 bps default).
    biswap = {p["address"]: p["fee_bps"] for p in net56.manifest["pools"] if p["dex"] == "Biswap"}
    assert dict(Pool.objects.filter(address__in=biswap).values_list("address", "fee_bps")) == biswap
    assert sorted(biswap.values()).count(10) == 2
    assert not Pool.objects.filter(chain_id=56, fee_bps__isnull=False).exclude(address__in=biswap).exists()
    assert f"{len(biswap)} per-pair fees read" in out.getvalue()
