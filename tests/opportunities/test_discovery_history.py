"""The pool scanner on the devnet: pools created while it runs, odd tokens, and backfills of history."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from chains.config import ChainConfig
from chains.models import ConcentratedPoolState, Pool, Token
from chains.v3pools import cl_state_from_values, cl_state_read
from devnet.rpc import abi
from evm.rpc import ChainClient
from opportunities.models import Opportunity
from opportunities.scanner import _MARKETS
from tests.opportunities.devnet_support import (
    TX_GAS_PRICE,
    call_cycle_at,
    fund_executor_with_non_base_tokens,
    scan_to_head,
)
from tests.opportunities.test_scan_devnet import SIM, opportunity_rows, rescan_from_scratch

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

DEADLINE = 2**40
E18 = 10**18


def _token(net: Any, symbol: str) -> str:
    return next(t["address"] for t in net.manifest["tokens"] if t["symbol"] == symbol)


def _odd(net: Any, kind: str) -> str:
    return next(t["address"] for t in net.manifest["odd_tokens"] if t["kind"] == kind)


def test_a_pool_created_while_scanning_is_tracked_and_traded(
    net: Any, config: ChainConfig, client: ChainClient
) -> None:
    fund_executor_with_non_base_tokens(net)
    scan_to_head(config, client)
    deployer = net.manifest["accounts"]["deployer"]
    dex = next(d for d in net.manifest["dexes"] if d["name"] == "Biswap")
    cake, usdt = _token(net, "CAKE"), _token(net, "USDT")
    assert not Pool.objects.filter(
        dex__name="Biswap", token0__address__in=[cake, usdt], token1__address__in=[cake, usdt]
    )

    # A CAKE-USDT pool on Biswap, 5% above PancakeSwap's CAKE price: created in one block, funded in the next.
    net.chain.send(deployer, dex["factory"], abi("V2Factory").createPair.encode(cake, usdt), gas=6_000_000,
                   gas_price=TX_GAS_PRICE)  # fmt: skip
    net.mine()
    for token, amount in ((cake, 100_000 * E18), (usdt, 210_000 * E18)):
        net.chain.send(deployer, token, abi("DevToken").mint.encode(deployer, amount), gas=200_000,
                       gas_price=TX_GAS_PRICE)  # fmt: skip
    liquidity = abi("V2Router").addLiquidity.encode(cake, usdt, 100_000 * E18, 210_000 * E18, 0, 0, deployer, DEADLINE)
    net.chain.send(deployer, dex["router"], liquidity, gas=6_000_000, gas_price=TX_GAS_PRICE)
    net.mine()
    funded_at = net.block_number()

    scan_to_head(config, client)
    pool = Pool.objects.select_related("dex", "token0", "token1").get(
        dex__name="Biswap", token0__address__in=[cake, usdt], token1__address__in=[cake, usdt]
    )
    reserves = {pool.token0.address: pool.reserve0, pool.token1.address: pool.reserve1}
    assert reserves == {cake: 100_000 * E18, usdt: 210_000 * E18} and pool.last_block == funded_at
    assert pool.address.lower() in _MARKETS[56].graph  # tradable in the live market, no restart
    found = Opportunity.objects.filter(chain_id=56, pool_address=pool.address, block_number=funded_at)
    assert len(found) == 1
    opportunity = found[0]
    assert len(opportunity.path_pools) >= 2
    assert call_cycle_at(net, opportunity, funded_at) == opportunity.profit_raw  # pays what it says, to the wei


def test_tokens_arriving_through_pools_get_metadata_and_the_probe(
    net: Any, config: ChainConfig, client: ChainClient
) -> None:
    scan_to_head(config, client)
    b32, rfl, nodec = (_odd(net, kind) for kind in ("bytes32_symbol", "fee_on_transfer", "decimals_reverts"))
    tokens = {t.address: t for t in Token.objects.filter(address__in=[b32, rfl, nodec])}
    assert (tokens[b32].symbol, tokens[b32].decimals, tokens[b32].fee_on_transfer) == ("B32", 18, False)
    assert tokens[rfl].fee_on_transfer is True
    assert tokens[nodec].decimals is None
    market = _MARKETS[56]
    odd_pools = {p["address"].lower(): p for p in net.manifest["pools"] if p.get("odd")}
    b32_pools = {a for a, p in odd_pools.items() if b32 in (p["token0"], p["token1"])}
    assert b32_pools and all(a in market.graph for a in b32_pools)  # a bytes32 symbol is no reason to skip
    assert set(market.skipped) == set(odd_pools) - b32_pools  # fee on transfer, no decimals


def _stored_reserves() -> list[tuple[Any, ...]]:
    return list(Pool.objects.order_by("id").values_list("address", "reserve0", "reserve1", "last_block"))


def _backfill(net: Any, settings: Any, from_block: int, to_block: int) -> str:
    settings.CHAIN_REGISTRY_FILES = [str(net.manifest_path)]
    out = StringIO()
    call_command(
        "backfill", "--chain", "56", "--from-block", str(from_block), "--to-block", str(to_block),
        "--kind", "opportunities", "--batch-blocks", "3", "--restart", "--no-progress", stdout=out,
    )  # fmt: skip
    return out.getvalue()


def test_backfill_of_a_scanned_range_stores_the_same_rows_once(
    net: Any, config: ChainConfig, client: ChainClient, settings: Any
) -> None:
    scan_to_head(config, client)
    first = net.block_number() + 1
    net.simulate(8, seed=31, **SIM)
    scan_to_head(config, client)
    live = opportunity_rows(56)
    assert {row[1] for row in live} & set(range(first, first + 8)), "the simulator should leave opportunities"
    reserves = _stored_reserves()

    _backfill(net, settings, first, net.block_number())
    assert opportunity_rows(56) == live
    assert Opportunity.objects.filter(chain_id=56).count() == len(live)
    assert _stored_reserves() == reserves

    # The rows of a range the scanner lost, back from history alone.
    Opportunity.objects.filter(chain_id=56, block_number__gte=first + 2).delete()
    _backfill(net, settings, first + 2, net.block_number())
    assert opportunity_rows(56) == live
    assert _stored_reserves() == reserves


def test_backfill_of_a_range_never_scanned_stores_what_the_live_scanner_would(
    net: Any, config: ChainConfig, client: ChainClient, settings: Any
) -> None:
    scan_to_head(config, client)
    first = net.block_number() + 1
    net.simulate(7, seed=32, **SIM)
    head = net.block_number()
    assert not Opportunity.objects.filter(block_number__gte=first).exists()

    _backfill(net, settings, first, head)
    backfilled = {row for row in opportunity_rows(56) if row[1] >= first}
    assert backfilled
    assert not Pool.objects.filter(last_block__gte=first).exists()  # the live reserves are the live scanner's

    report = scan_to_head(config, client)[-1]  # live scanning then finds them all stored already
    assert report.to_block == head
    assert {row for row in opportunity_rows(56) if row[1] >= first} == backfilled
    assert {row for row in rescan_from_scratch(config, client) if row[1] >= first} == backfilled


def test_a_v3_state_read_on_chain_holds_every_tick_the_events_built(
    net: Any, config: ChainConfig, client: ChainClient
) -> None:
    """A backfill's market starts from states read on chain; the live scanner's were built from the pools'
    creation and events. They must be the same state, ticks far from the price included (the devnet's
    widest positions are ±50 % around it: 16 bitmap words away at tick spacing 1), or a backfill would
    judge a cycle crossing them differently from the live scan."""
    net.simulate(4, seed=33, **SIM)
    scan_to_head(config, client)
    head = net.block_number()
    stored = {
        state.pool.address: state
        for state in ConcentratedPoolState.objects.select_related("pool__dex").filter(pool__chain_id=56)
    }
    assert stored and all(state.block_number <= head for state in stored.values())
    read = cl_state_read(client=client, pools=[(a, s.pool.dex.family) for a, s in stored.items()], block=head)
    spacing_one = 0
    for address, state in stored.items():
        on_chain = read[address]
        assert on_chain is not None and on_chain.window is None  # every initialized tick, not a window
        built = cl_state_from_values(
            family=state.pool.dex.family, sqrt_price_x96=int(state.sqrt_price_x96), tick=state.tick,
            liquidity=int(state.liquidity), fee=state.fee, tick_spacing=state.tick_spacing, ticks=state.ticks,
        )  # fmt: skip
        assert on_chain.state.sqrt_price_x96 == built.sqrt_price_x96 and on_chain.state.tick == built.tick
        assert on_chain.state.liquidity == built.liquidity
        assert {t: (i.liquidity_gross, i.liquidity_net) for t, i in on_chain.state.ticks.items()} == {
            t: (i.liquidity_gross, i.liquidity_net) for t, i in built.ticks.items()
        }
        far = [t for t in built.ticks if abs(t // built.tick_spacing - built.tick // built.tick_spacing) > 2 * 256]
        spacing_one += bool(far)
    assert spacing_one, "no pool has initialized ticks beyond ±2 bitmap words: the test shows nothing"
