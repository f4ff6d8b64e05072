"""Issue 13 on the devnet: Biswap's per-pair fees read from the pairs (and read again when changed), and gas
priced at what the block's transactions paid, never below the registry's floors."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from chains.config import ChainConfig
from chains.models import Pool
from devnet.rpc import abi
from devnet.simulator import DEADLINE
from dexes.uniswap_v2.swap_math import get_amount_out
from evm.rpc import ChainClient
from opportunities.models import Opportunity
from tests.chains.conftest import config_for
from tests.opportunities.devnet_support import (
    call_cycle_at,
    client_for,
    execute_cycle,
    reserves_at,
    scan_to_head,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

GWEI = 10**9


def token(net: Any, symbol: str) -> str:
    return next(t["address"] for t in net.manifest["tokens"] if t["symbol"] == symbol)


def v2_pool(net: Any, dex: str, a: str, b: str) -> dict[str, Any]:
    pair = {token(net, a), token(net, b)}
    return next(p for p in net.manifest["pools"] if p["dex"] == dex and {p["token0"], p["token1"]} == pair)


def router_swap(net: Any, dex: str, path: list[str], amount: int, *, gas_price: int, trader: int = 0) -> str:
    """A trader's swap through the DEX's router (traders hold every token and approved every router)."""
    sender = net.manifest["accounts"]["traders"][trader]
    router = next(d["router"] for d in net.manifest["dexes"] if d["name"] == dex)
    data = abi("V2Router").swapExactTokensForTokens.encode(amount, 0, [token(net, s) for s in path], sender, DEADLINE)
    return net.chain.send(sender, router, data, gas=400_000, gas_price=gas_price)


def v2_only(config: ChainConfig) -> ChainConfig:
    """The chain without its concentrated-liquidity DEXes: every cycle is V2, so ``cycle_profit_at_fees`` (the
    V2 contracts' maths) can price it. With them, the best cycle through a Biswap pair may cross a V3 pool."""
    return dataclasses.replace(config, cl_dexes=(), cl_pools=())


def mine_and_scan(net: Any, config: ChainConfig, client: ChainClient) -> int:
    net.mine()
    scan_to_head(config, client)
    return net.block_number()


def opportunity_through(pool: str, block: int) -> Opportunity:
    found = [o for o in Opportunity.objects.filter(block_number=block) if pool in o.path_pools]
    assert found, f"no opportunity through {pool} in block {block}"
    return max(found, key=lambda o: o.profit_usd)


def cycle_profit_at_fees(net: Any, client: ChainClient, opportunity: Opportunity, fees: dict[str, int]) -> int:
    """The cycle's profit at ``block`` computed with the given fees per pool (the contracts' integer maths)."""
    pools = {p["address"]: p for p in net.manifest["pools"]}
    reserves = reserves_at(client, list(opportunity.path_pools), opportunity.block_number)
    amount = int(opportunity.amount_in)
    for address, token_in in zip(opportunity.path_pools, opportunity.path_tokens, strict=False):
        r0, r1 = reserves[address]
        r_in, r_out = (r0, r1) if pools[address]["token0"] == token_in else (r1, r0)
        amount = get_amount_out(amount, r_in, r_out, fees[address])
    return amount - int(opportunity.amount_in)


def implied_gas_price_wei(opportunity: Opportunity) -> Decimal:
    """The gas price the stored figures were priced at: gas USD → native (the row's own USD/native ratio) → per unit."""
    native_usd = opportunity.profit_usd / opportunity.profit_native
    return opportunity.gas_cost_usd / native_usd * Decimal(10**18) / opportunity.gas_estimate


# --------------------------------------------------------------------------- per-pair fees


def test_a_cycle_through_a_10_bps_biswap_pair_is_found_and_pays_exactly(
    net: Any, config: ChainConfig, client: ChainClient
) -> None:
    config = v2_only(config)
    scan_to_head(config, client)
    pair = v2_pool(net, "Biswap", "USDT", "BUSD")
    assert pair["fee_bps"] == 10 and pair["fee_off_default"]
    # Every Biswap pair's fee as the pair charges it, read from swapFee() (not the DEX's 20 bps default).
    stored = {p.address: (p.fee_bps, p.fee_read_block) for p in Pool.objects.filter(dex__name="Biswap")}
    assert {a: fee for a, (fee, _) in stored.items()} == {
        p["address"]: p["fee_bps"] for p in net.manifest["pools"] if p["dex"] == "Biswap"
    }
    assert all(read is not None for _, read in stored.values())

    router_swap(net, "Biswap", ["USDT", "BUSD"], 40_000 * 10**18, gas_price=GWEI)
    head = mine_and_scan(net, config, client)
    opportunity = opportunity_through(pair["address"], head)

    # Executed through the executor at the pair's real fee: exactly the reported profit.
    assert call_cycle_at(net, opportunity, head) == opportunity.profit_raw
    snapshot = net.snapshot()
    try:
        assert execute_cycle(net, opportunity) == opportunity.profit_raw
    finally:
        net.revert(snapshot)
    # The figure is the 10 bps one: at the DEX's default the same input would return less.
    fees = {p.address: p.swap_fee_bps for p in Pool.objects.filter(address__in=opportunity.path_pools)}
    assert cycle_profit_at_fees(net, client, opportunity, fees) == opportunity.profit_raw
    assert cycle_profit_at_fees(net, client, opportunity, {**fees, pair["address"]: 20}) < opportunity.profit_raw


def test_a_fee_changed_on_chain_is_read_again_once_the_refresh_interval_has_passed(
    net: Any, config: ChainConfig, client: ChainClient, settings: Any
) -> None:
    config = v2_only(config)
    settings.POOL_FEE_REFRESH_SECONDS = 3600
    scan_to_head(config, client)
    pair = v2_pool(net, "Biswap", "USDT", "BUSD")["address"]
    factory = next(d["factory"] for d in net.manifest["dexes"] if d["name"] == "Biswap")
    # The fee setter raises the pair's fee to 0.3 % (Biswap's unit: 3); no event says so.
    net.chain.send(net.manifest["accounts"]["deployer"], factory, abi("V2Factory").setSwapFee.encode(pair, 3))
    changed_at = mine_and_scan(net, config, client)
    assert int.from_bytes(net.chain.call(pair, abi("V2Pair").swapFee.encode()), "big") == 3
    assert Pool.objects.get(address=pair).fee_bps == 10  # within the interval: the documented staleness

    settings.POOL_FEE_REFRESH_SECONDS = 0  # the interval has passed: the next batch reads it again
    mine_and_scan(net, config, client)
    row = Pool.objects.get(address=pair)
    assert row.fee_bps == 30 and row.fee_read_block is not None and row.fee_read_block >= changed_at

    router_swap(net, "Biswap", ["USDT", "BUSD"], 60_000 * 10**18, gas_price=GWEI)
    head = mine_and_scan(net, config, client)
    opportunity = opportunity_through(pair, head)
    assert call_cycle_at(net, opportunity, head) == opportunity.profit_raw  # executed at the chain's 30 bps
    fees = {p.address: p.swap_fee_bps for p in Pool.objects.filter(address__in=opportunity.path_pools)}
    assert fees[pair] == 30
    assert cycle_profit_at_fees(net, client, opportunity, {**fees, pair: 10}) > opportunity.profit_raw


# --------------------------------------------------------------------------- gas


def test_bsc_gas_is_what_the_block_paid_and_an_unpaid_block_costs_the_minimum_gas_price(
    net: Any, config: ChainConfig, client: ChainClient
) -> None:
    assert config.min_gas_price_wei == 50_000_000  # the devnet's registry entry, as BSC's
    scan_to_head(config, client)
    pool = v2_pool(net, "PancakeSwap V2", "WBNB", "USDT")["address"]
    assert client.get_block_header(net.block_number()).base_fee_per_gas == 0  # BSC: no base fee

    router_swap(net, "PancakeSwap V2", ["USDT", "WBNB"], 300_000 * 10**18, gas_price=7 * GWEI)
    paid = opportunity_through(pool, mine_and_scan(net, config, client))
    assert abs(implied_gas_price_wei(paid) / (7 * GWEI) - 1) < Decimal("0.0001")
    assert (paid.gas_price_wei, paid.gas_price_source) == (7 * GWEI, "observed")  # the figure names its source

    # Every transaction of the block paid nothing (a system-transaction-like block): priced at the floor, never 0.
    router_swap(net, "PancakeSwap V2", ["USDT", "WBNB"], 300_000 * 10**18, gas_price=0)
    unpaid = opportunity_through(pool, mine_and_scan(net, config, client))
    assert unpaid.gas_cost_usd > 0
    assert abs(implied_gas_price_wei(unpaid) / 50_000_000 - 1) < Decimal("0.001")
    assert (unpaid.gas_price_wei, unpaid.gas_price_source) == (50_000_000, "registry_floor")


def test_polygon_gas_tip_is_never_below_the_minimum_priority_fee(devnet_137_fresh: Any) -> None:
    net = devnet_137_fresh
    config = config_for(net)
    client = client_for(config)
    try:
        assert config.min_priority_fee_wei == 25 * GWEI
        scan_to_head(config, client)
        pool = v2_pool(net, "QuickSwap V2", "WMATIC", "USDC")["address"]
        base_fee = client.get_block_header(net.block_number()).base_fee_per_gas or 0
        router_swap(net, "QuickSwap V2", ["USDC", "WMATIC"], 60_000 * 10**6, gas_price=base_fee + GWEI)
        opportunity = opportunity_through(pool, mine_and_scan(net, config, client))
        head_base_fee = client.get_block_header(opportunity.block_number).base_fee_per_gas or 0
        expected = head_base_fee + 25 * GWEI  # a 1 gwei tip paid, a 25 gwei tip priced
        # gas_cost_usd is ~$0.0015 here, stored to 6 decimals: 3e-4 relative at worst.
        assert abs(implied_gas_price_wei(opportunity) / expected - 1) < Decimal("0.001")
        assert (opportunity.gas_price_wei, opportunity.gas_price_source) == (expected, "registry_floor")
    finally:
        client.close()


def test_a_fee_read_on_an_orphaned_fork_is_read_again_after_the_reorg(
    net: Any, config: ChainConfig, client: ChainClient, settings: Any
) -> None:
    settings.POOL_FEE_REFRESH_SECONDS = 3600
    scan_to_head(config, client)
    pair = v2_pool(net, "Biswap", "USDT", "BUSD")["address"]
    factory = next(d["factory"] for d in net.manifest["dexes"] if d["name"] == "Biswap")
    fork_point = net.block_number()
    snapshot = net.snapshot()
    net.chain.send(net.manifest["accounts"]["deployer"], factory, abi("V2Factory").setSwapFee.encode(pair, 3))
    settings.POOL_FEE_REFRESH_SECONDS = 0
    mine_and_scan(net, config, client)
    assert Pool.objects.get(address=pair).fee_bps == 30  # read on the branch that is about to be orphaned

    settings.POOL_FEE_REFRESH_SECONDS = 3600  # no periodic re-read: only the reorg can bring the fee back
    net.revert(snapshot)  # the fee change never happened on the new branch
    net.mine(3)
    reports = scan_to_head(config, client)
    assert reports[0].reorg is not None and reports[0].reorg.common_ancestor == fork_point
    row = Pool.objects.get(address=pair)
    assert row.fee_bps == 10 and row.fee_read_block is not None and row.fee_read_block > fork_point
