"""The monitor on the devnet: reorgs, overlapping runs, pools of unknown DEXes, prices at a block."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from chains.clients import chain_client_new
from chains.config import chain_config_parse
from chains.models import Pool
from chains.services import chain_registry_sync
from devnet.pytest_plugin import Devnet
from evm.abis import GET_RESERVES
from scanning.loop import chain_lock, scan_run
from tests.transactions.devnet_helpers import devnet_setup, simulate
from transactions.models import ArbitrageTransaction
from transactions.monitor import ArbitrageMonitor

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def arbitrage_hashes(truth: list[dict[str, Any]]) -> set[str]:
    """Every arbitrage of the ground truth (V2, mixed V2+V3 and tax-token routes alike)."""
    return {line["tx_hash"].lower() for line in truth if line["kind"] == "arbitrage"}


def stored() -> set[str]:
    """The profitable arbitrages stored (losing router round trips are stored too, as losses)."""
    return set(ArbitrageTransaction.objects.filter(outcome="profit").values_list("tx_hash", flat=True))


def scan_to_head(net: Devnet, monitor: ArbitrageMonitor, config: Any, client: Any) -> Any:
    report = scan_run(config.chain_id, monitor, max_blocks=1000, config=config, client=client)
    assert report.to_block == net.block_number() or report.reason == "nothing new"
    return report


def test_reorg_removes_the_orphaned_arbitrages_and_finds_the_new_fork(
    devnet_56_fresh: Devnet, scan_redis_clean: None
) -> None:
    net = devnet_56_fresh
    fork_point = net.snapshot()
    first = net.block_number() + 1
    old_fork = arbitrage_hashes(simulate(net, 15, seed=31))
    config, client, monitor = devnet_setup(net, start_block=first)
    scan_to_head(net, monitor, config, client)
    assert stored() == old_fork and old_fork

    net.revert(fork_point)  # the 15 blocks are orphaned; a longer fork replaces them
    new_fork = arbitrage_hashes(simulate(net, 20, seed=32))
    assert new_fork and not new_fork & old_fork
    report = scan_to_head(net, monitor, config, client)
    assert report.reorg is not None and report.reorg.orphaned_from <= first
    assert stored() == new_fork


def test_a_second_run_while_one_holds_the_lock_does_nothing(devnet_56_fresh: Devnet, scan_redis_clean: None) -> None:
    net = devnet_56_fresh
    first = net.block_number() + 1
    simulate(net, 5, seed=33)
    config, client, monitor = devnet_setup(net, start_block=first)
    with chain_lock(56, "transactions") as acquired:
        assert acquired
        report = scan_run(56, monitor, config=config, client=client)
    assert report.skipped and not ArbitrageTransaction.objects.exists()


def test_pools_of_an_unknown_dex_are_resolved_once_and_count(devnet_137_fresh: Devnet, scan_redis_clean: None) -> None:
    net = devnet_137_fresh
    first = net.block_number() + 1
    truth = simulate(net, 80, seed=34)
    manifest = dict(net.manifest)
    dropped = manifest["dexes"][-1]["name"]
    manifest["dexes"] = manifest["dexes"][:-1]
    manifest["pools"] = [p for p in manifest["pools"] if p["dex"] != dropped]
    manifest["scan_start_block"] = first
    config = chain_config_parse(manifest, source="devnet", environ={})
    chain_registry_sync(config=config)

    client = chain_client_new(config)
    monitor = ArbitrageMonitor(config=config, client=client)
    unknown = {p["address"]: p for p in net.manifest["pools"] if p["dex"] == dropped and not p.get("odd")}
    assert not Pool.objects.filter(address__in=list(unknown)).exists()

    scan_to_head(net, monitor, config, client)
    assert stored() == arbitrage_hashes(truth)
    through_unknown = [line for line in truth if line["kind"] == "arbitrage" and set(line["pools"]) & set(unknown)]
    assert through_unknown, "no arbitrage through the unknown DEX in this run"
    for pool in Pool.objects.filter(address__in=list(unknown)).select_related("token0", "token1"):
        assert pool.dex is None
        assert (pool.token0.address, pool.token1.address) == (
            unknown[pool.address]["token0"],
            unknown[pool.address]["token1"],
        )
        assert pool.token0.decimals == 18 or pool.token0.decimals is not None
    resolved = monitor.stats.pools_resolved
    assert resolved >= 1
    monitor.pool_tokens(list(unknown))  # cached: no second resolution
    assert monitor.stats.pools_resolved == resolved


def test_prices_are_read_at_the_arbitrage_blocks_parent(devnet_56_fresh: Devnet) -> None:
    """An arbitrage moves the pools it trades: it is priced at the state before its block."""
    net = devnet_56_fresh
    config, _client, monitor = devnet_setup(net)
    early = net.block_number()
    simulate(net, 30, seed=35)
    late = net.block_number()
    wnative = config.wrapped_native
    stables = set(config.stable_tokens)
    decimals = {t.address: t.decimals for t in config.tokens}

    def native_usd_at(block: int) -> Decimal:
        """Independently: the deepest wrapped-native/stable pool at ``block``."""
        best: tuple[Decimal, Decimal] | None = None
        for pool in net.manifest["pools"]:
            pair = {pool["token0"], pool["token1"]}
            if wnative not in pair or not pair & stables:
                continue
            raw = net.chain.call(pool["address"], "0x" + GET_RESERVES.hex(), hex(block))
            r0, r1 = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")
            stable = (pair - {wnative}).pop()
            r_native, r_stable = (r0, r1) if pool["token0"] == wnative else (r1, r0)
            depth = Decimal(r_stable) / 10 ** decimals[stable]
            price = depth / (Decimal(r_native) / 10**18)
            if best is None or depth > best[0]:
                best = (depth, price)
        assert best is not None
        return best[1]

    at_early = monitor.prices_at(early, {wnative})
    at_late = monitor.prices_at(late, {wnative})
    assert at_early.native_usd != at_late.native_usd
    for block, prices in ((early, at_early), (late, at_late)):
        assert prices.native_usd is not None and prices.source == "parent_block"
        assert abs(prices.native_usd - native_usd_at(block - 1)) <= prices.native_usd * Decimal("1e-20")
        assert prices.token_usd[wnative] == prices.native_usd
    # A block whose parent state the node does not have: unpriced and said so, never today's prices.
    missing = monitor.prices_at(late + 1000, {wnative})
    assert (missing.source, missing.native_usd, dict(missing.token_usd)) == ("unavailable", None, {})


def test_fetch_reads_everything_so_compute_and_write_do_not(devnet_56_fresh: Devnet, scan_redis_clean: None) -> None:
    """scan_run calls fetch() before its transaction: receipts, tips and prices are read there, never later."""
    from scanning.loop import BlockBatch

    net = devnet_56_fresh
    first = net.block_number() + 1
    expected = arbitrage_hashes(simulate(net, 6, seed=35))
    config, client, monitor = devnet_setup(net, start_block=first)
    headers = client.get_block_headers(list(range(first, net.block_number() + 1)))
    logs = client.get_logs(first, headers[-1].number, topics=monitor.topics())
    batch = BlockBatch(chain=config, client=client, headers=headers, logs=logs, live=False)
    fetched = monitor.fetch(batch)
    requests_after_fetch = client.request_count
    priced = monitor.compute(batch, fetched)
    stored_now = monitor.write(batch, priced)
    assert client.request_count == requests_after_fetch  # no RPC in compute or write
    assert stored() == expected and stored_now == ArbitrageTransaction.objects.count() >= len(expected)
