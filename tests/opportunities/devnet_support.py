"""Helpers for the scanner's devnet tests: config, scanning to the head, executing a cycle, brute force."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from chains.config import ChainConfig
from chains.models import Pool
from chains.pricing import PoolReserves, PriceBook
from devnet.arbmath import PoolInfo, best_trade, enumerate_cycles
from devnet.markets import HOP_KIND, V2
from devnet.rpc import abi
from evm.abis import GET_RESERVES
from evm.rpc import Call, ChainClient
from opportunities.gas import block_tips_fetch
from opportunities.models import Opportunity
from opportunities.scanner import ScanPolicy, pool_scan_run
from tests.chains.conftest import FAST as CHAIN_FAST
from tests.chains.conftest import client_for as chain_client_for

# The chain tests' fast retries, with a longer timeout: a scan reads whole block ranges per request.
FAST = {**CHAIN_FAST, "timeout": 5.0}
TX_GAS_PRICE = 200 * 10**9


def client_for(config: ChainConfig, **overrides: Any) -> ChainClient:
    return chain_client_for(config, **{**FAST, **overrides})


def scan_to_head(config: ChainConfig, client: ChainClient, *, policy: ScanPolicy | None = None) -> list[Any]:
    """Run the pool scanner until its cursor reaches the head; returns the reports."""
    reports = []
    for _ in range(100):
        report = pool_scan_run(chain_id=config.chain_id, config=config, client=client, policy=policy)
        reports.append(report)
        assert not report.skipped, report
        if report.blocks == 0 or report.to_block == report.head:
            return reports
    raise AssertionError("the scanner never reached the head")


def scanner_fee_bps(net: Any) -> dict[str, int]:
    """Each manifest pool's fee as the pair charges it: Biswap pairs off the DEX default
    (`fee_off_default`, 10 bps against 20) at their own `swapFee()`, as the scanner reads it."""
    return {p["address"]: int(p["fee_bps"]) for p in net.manifest["pools"]}


def tradable_pools(net: Any) -> dict[str, PoolInfo]:
    fees = scanner_fee_bps(net)
    return {
        p["address"]: PoolInfo(p["address"], p["token0"], p["token1"], fees[p["address"]], p["dex"])
        for p in net.manifest["pools"]
        if not p.get("odd")
    }


def reserves_at(client: ChainClient, pools: list[str], block: int) -> dict[str, tuple[int, int]]:
    results = client.multicall([Call(p, GET_RESERVES) for p in pools], block=block)
    return {
        p: (int.from_bytes(r.data[0:32], "big"), int.from_bytes(r.data[32:64], "big"))
        for p, r in zip(pools, results, strict=True)
    }


def cl_pools_changed_at(net: Any, client: ChainClient, block: int) -> set[str]:
    """The manifest's concentrated-liquidity pools with a Swap, Mint, Burn or (Algebra) Fee log in ``block``."""
    from dexes.families import CL_FAMILIES

    pools = {p["address"].lower(): p for p in net.manifest.get("cl_pools") or []}
    topics = {t for p in pools.values() for t in CL_FAMILIES[p["family"]].event_topics}
    logs = client.get_logs(block, block, topics=[sorted(topics)])
    return {pools[log.address.lower()]["address"] for log in logs if log.address.lower() in pools}


def cl_states_at(client: ChainClient, pools: list[dict[str, Any]], block: int) -> dict[str, tuple[int, int, int]]:
    """(sqrtPriceX96, tick, liquidity) of each manifest concentrated-liquidity pool on chain at ``block``."""
    from chains.v3pools import cl_state_read

    states = cl_state_read(client=client, pools=[(p["address"], p["family"]) for p in pools], block=block)
    return {
        address: (read.state.sqrt_price_x96, read.state.tick, read.state.liquidity)
        for address, read in states.items()
        if read is not None
    }


def balance(net: Any, token: str, owner: str) -> int:
    return int.from_bytes(net.chain.call(token, abi("DevToken").balanceOf.encode(owner)), "big")


def fund_executor_with_non_base_tokens(net: Any) -> None:
    """The executor holds only base tokens; cycles may start from others (CAKE). Mint those to it."""
    manifest = net.manifest
    deployer = manifest["accounts"]["deployer"]
    bases = set(manifest["base_tokens"])
    for token in manifest["tokens"]:
        if token["address"] not in bases:
            amount = 10 ** (int(token["decimals"]) + 9)
            data = abi("DevToken").mint.encode(manifest["executor"], amount)
            net.chain.send(deployer, token["address"], data, gas=200_000, gas_price=TX_GAS_PRICE)
    net.mine()


def execute_calldata(net: Any, opportunity: Opportunity) -> str:
    # Each pool's fee as stored (its own where read, else its DEX's): what the scanner priced the cycle at.
    fees = {p.address.lower(): p.swap_fee_bps for p in Pool.objects.select_related("dex") if p.dex}
    if any(venue != V2 for venue in opportunity.venues):
        # A route over any family: the executor calls each pool's own swap (V3 callbacks pay it).
        hops = [
            (pool, HOP_KIND[venue], fees[pool.lower()] if venue == V2 else 0)
            for pool, venue in zip(opportunity.path_pools, opportunity.venues, strict=True)
        ]
        route = (hops, opportunity.start_token, int(opportunity.amount_in), 0, False)
        return abi("ArbExecutor").executeRoute.encode(route)
    return abi("ArbExecutor").executeCycle.encode(
        list(opportunity.path_pools),
        [fees[p.lower()] for p in opportunity.path_pools],
        opportunity.start_token,
        int(opportunity.amount_in),
        0,
    )


def call_cycle_at(net: Any, opportunity: Opportunity, block: int) -> int:
    """executeCycle as an eth_call on the state after ``block``: the profit the contract returns."""
    manifest = net.manifest
    raw = net.chain.rpc(
        "eth_call",
        [
            {
                "from": manifest["executor_owner"],
                "to": manifest["executor"],
                "data": execute_calldata(net, opportunity),
                "gas": hex(3_000_000),
            },
            hex(block),
        ],
    )
    return int(raw, 16)


def execute_cycle(net: Any, opportunity: Opportunity) -> int:
    """Send executeCycle from the executor's owner, mine it; returns the executor's balance change."""
    manifest = net.manifest
    executor, token = manifest["executor"], opportunity.start_token
    before = balance(net, token, executor)
    tx = net.chain.send(
        manifest["executor_owner"], executor, execute_calldata(net, opportunity), gas=3_000_000, gas_price=TX_GAS_PRICE
    )
    net.mine()
    receipt = net.chain.receipt(tx)
    assert receipt is not None and int(receipt["status"], 16) == 1, receipt
    return balance(net, token, executor) - before


@dataclass(frozen=True)
class ProfitableCycle:
    pools: tuple[str, ...]
    start_token: str
    amount_in: int
    profit: int
    net_usd: Decimal


def brute_force_cycles(
    net: Any, client: ChainClient, block: int, policy: ScanPolicy
) -> tuple[list[ProfitableCycle], set[str]]:
    """Every in-scope 2-/3-hop cycle clearing the floor at ``block`` (independent maths), and the pools changed in it.

    Scope as the issue defines it: 2-hop (one pair, two DEXes) and 3-hop
    triangles through the chain's base tokens (at least two of the three).
    Amounts come from devnet's own arbitrage maths (float optimum, exact
    integer profit): a lower bound of the best integer input's profit.
    """
    manifest = net.manifest
    pools = tradable_pools(net)
    addresses = list(pools)
    now = reserves_at(client, addresses, block)
    before = reserves_at(client, addresses, block - 1)
    changed = {p for p in addresses if now[p] != before[p]}
    decimals = {t["address"]: int(t["decimals"]) for t in manifest["tokens"]}
    book = PriceBook(
        decimals=decimals,
        stable_tokens=manifest["stable_tokens"],
        wrapped_native=manifest["wrapped_native"],
        base_tokens=manifest["base_tokens"],
        min_liquidity_usd=Decimal(str(settings.PRICE_MIN_LIQUIDITY_USD)),
        pools=[PoolReserves(p.address, p.token0, p.token1, *now[p.address]) for p in pools.values()],
    )
    native_usd = book.native_price_usd()
    base_fee = client.get_block_header(block).base_fee_per_gas
    tip = block_tips_fetch(client=client, blocks=[block], percentile=policy.priority_fee_percentile).get(block)
    gas_price = policy.gas_price_wei(
        base_fee,
        observed_tip_wei=tip,
        min_gas_price_wei=int(manifest.get("min_gas_price_wei", 0)),
        min_priority_fee_wei=int(manifest.get("min_priority_fee_wei", 0)),
    )
    bases = set(manifest["base_tokens"])
    found = []
    for cycle in enumerate_cycles(pools.values(), list(decimals), max_hops=3):
        tokens = {h.token_in for h in cycle}
        if len(cycle) == 3 and len(tokens & bases) < 2:
            continue
        amount_in, profit = best_trade(cycle, now)
        if profit <= 0:
            continue
        gross = book.amount_to_usd(cycle[0].token_in, profit)
        if gross is None or native_usd is None:
            continue
        gas_native = Decimal(policy.gas_units(len(cycle)) * gas_price) / Decimal(10**18)
        net_usd = gross - gas_native * native_usd
        if net_usd >= policy.min_profit_usd:
            found.append(ProfitableCycle(tuple(h.pool for h in cycle), cycle[0].token_in, amount_in, profit, net_usd))
    return found, changed
