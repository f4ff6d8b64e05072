"""Issue 13, pure parts: per-pair fees in the market, gas priced at what the block paid, the registry's keys."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from chains.config import chain_config_parse
from dexes.uniswap_v2.pair_fee import swap_fee_bps_decode
from dexes.uniswap_v2.swap_math import get_amount_out
from evm.rpc import header_from_json
from opportunities.gas import GasFloors, GasPrice, GasPriceSource, fee_history_tips, gas_price, gas_price_wei
from opportunities.scanner import ChainMarket, MarketConfig, ScanPolicy
from opportunities.selectors import PoolRow
from tests.opportunities.test_market import CONFIG, A, U, W, token_rows

GWEI = 10**9
BSC_FLOORS = GasFloors(min_gas_price_wei=50_000_000)  # chains/registry/bsc.json
POLYGON_FLOORS = GasFloors(min_priority_fee_wei=25 * GWEI)  # chains/registry/polygon.json


# --------------------------------------------------------------------------- gas


def test_bsc_block_with_zero_base_fee_is_priced_at_the_observed_tip_never_zero() -> None:
    # BSC: base fee 0; the block's median tip is what its transactions paid.
    assert gas_price_wei(base_fee_wei=0, observed_tip_wei=1 * GWEI, floors=BSC_FLOORS) == 1 * GWEI
    # An empty block (tip 0 in eth_feeHistory) or a node without eth_feeHistory: the validators' minimum.
    assert gas_price_wei(base_fee_wei=0, observed_tip_wei=0, floors=BSC_FLOORS) == 50_000_000
    assert gas_price_wei(base_fee_wei=0, observed_tip_wei=None, floors=BSC_FLOORS) == 50_000_000
    # A tip under the minimum gas price cannot have been paid: the floor wins.
    assert gas_price_wei(base_fee_wei=0, observed_tip_wei=10_000_000, floors=BSC_FLOORS) == 50_000_000


def test_pre_london_block_has_no_base_fee_and_its_legacy_gas_price_is_all_tip() -> None:
    header = header_from_json(
        {"number": "0x10", "hash": "0x" + "11" * 32, "parentHash": "0x" + "22" * 32, "timestamp": "0x1",
         "miner": "0x" + "33" * 20}
    )  # fmt: skip
    assert header.base_fee_per_gas is None
    assert (
        gas_price_wei(base_fee_wei=header.base_fee_per_gas, observed_tip_wei=7 * GWEI, floors=GasFloors()) == 7 * GWEI
    )
    assert gas_price_wei(base_fee_wei=None, observed_tip_wei=0, floors=BSC_FLOORS) == 50_000_000


def test_polygon_tip_is_never_below_the_minimum_priority_fee() -> None:
    assert gas_price_wei(base_fee_wei=30 * GWEI, observed_tip_wei=10 * GWEI, floors=POLYGON_FLOORS) == 55 * GWEI
    assert gas_price_wei(base_fee_wei=30 * GWEI, observed_tip_wei=40 * GWEI, floors=POLYGON_FLOORS) == 70 * GWEI
    assert gas_price_wei(base_fee_wei=30 * GWEI, observed_tip_wei=None, floors=POLYGON_FLOORS) == 55 * GWEI


def test_the_operators_tip_is_a_floor_on_the_observed_tip() -> None:
    floors = GasFloors(configured_tip_wei=3 * GWEI)
    assert gas_price_wei(base_fee_wei=GWEI, observed_tip_wei=GWEI, floors=floors) == 4 * GWEI
    assert gas_price_wei(base_fee_wei=GWEI, observed_tip_wei=5 * GWEI, floors=floors) == 6 * GWEI
    policy = ScanPolicy(Decimal(0), priority_fee_wei=3 * GWEI)
    assert policy.gas_price_wei(GWEI, observed_tip_wei=GWEI, min_gas_price_wei=10 * GWEI) == 10 * GWEI


def test_each_gas_price_names_the_figure_that_set_it() -> None:
    def priced(base: int | None, tip: int | None, floors: GasFloors) -> tuple[int, str]:
        price = gas_price(base_fee_wei=base, observed_tip_wei=tip, floors=floors)
        return price.wei, price.source.value

    # BSC: the observed tip when it clears the minimum gas price, else the registry's floor.
    assert priced(0, 1 * GWEI, BSC_FLOORS) == (GWEI, "observed")
    assert priced(0, 0, BSC_FLOORS) == (50_000_000, "registry_floor")
    assert priced(0, None, BSC_FLOORS) == (50_000_000, "registry_floor")
    # Polygon: the registry's 25 gwei tip floor, or the observed tip above it (a tie is the observed tip).
    assert priced(30 * GWEI, 10 * GWEI, POLYGON_FLOORS) == (55 * GWEI, "registry_floor")
    assert priced(30 * GWEI, 40 * GWEI, POLYGON_FLOORS) == (70 * GWEI, "observed")
    assert priced(30 * GWEI, 25 * GWEI, POLYGON_FLOORS) == (55 * GWEI, "observed")
    # The operator's GAS_PRIORITY_FEE_WEI.
    assert priced(GWEI, GWEI, GasFloors(configured_tip_wei=3 * GWEI)) == (4 * GWEI, "configured_floor")
    # No eth_feeHistory answer and no floor: the base fee alone; an observed 0 tip is still observed.
    assert priced(20 * GWEI, None, GasFloors()) == (20 * GWEI, "base_fee")
    assert priced(20 * GWEI, 0, GasFloors()) == (20 * GWEI, "observed")

    # A block priced 0 (no base fee, no floor, nothing paid) takes the last price the scanner saw, and says so.
    market = ChainMarket(config=CONFIG, tokens={})
    policy = ScanPolicy(Decimal(0))
    assert market.block_gas_price(base_fee_wei=0, observed_tip_wei=0, policy=policy) == GasPrice(
        0, GasPriceSource.OBSERVED
    )
    assert market.block_gas_price(base_fee_wei=0, observed_tip_wei=2 * GWEI, policy=policy).source == "observed"
    assert market.block_gas_price(base_fee_wei=0, observed_tip_wei=0, policy=policy) == GasPrice(
        2 * GWEI, GasPriceSource.LAST_SEEN
    )


def test_fee_history_reply_maps_each_block_to_its_tip() -> None:
    reply = {
        "oldestBlock": "0x64",
        "baseFeePerGas": ["0x0"] * 4,
        "gasUsedRatio": [0.1, 0.0, 0.3],
        "reward": [["0x3b9aca00"], ["0x0"], ["0x77359400"]],
    }
    assert fee_history_tips(reply, newest_block=102, count=3) == {100: GWEI, 101: 0, 102: 2 * GWEI}
    # A node that answered fewer blocks, or none with rewards: only what it covered.
    assert fee_history_tips({**reply, "reward": [["0x1"]]}, newest_block=102, count=3) == {100: 1}
    assert fee_history_tips({"oldestBlock": "0x64", "baseFeePerGas": []}, newest_block=102, count=3) == {}
    assert fee_history_tips(None, newest_block=102, count=3) == {}


def _priced_market(pools: list[PoolRow], config: MarketConfig = CONFIG) -> ChainMarket:
    # W priced against U by a deep pool (1 WNAT = 600 USD with 18 decimals on both sides).
    deep = PoolRow(99, "0x" + "99" * 20, "dex25", 25, W, U, 10**24, 600 * 10**24, None)
    return ChainMarket(config=config, tokens=token_rows(decimals=18), pools=[deep, *pools], block_number=0)


def test_market_prices_gas_at_the_blocks_tip_and_a_zero_block_at_the_last_price() -> None:
    pools = [
        PoolRow(1, "0x" + "01" * 20, "dex25", 25, A, U, 10**24, 10**24, None),
        PoolRow(2, "0x" + "02" * 20, "dex25", 25, A, U, 10**24, 12 * 10**23, None),
    ]
    market = _priced_market(pools)
    kwargs: dict[str, Any] = {"block_number": 1, "block_hash": "0x1", "policy": ScanPolicy(Decimal(0))}
    [cheap] = market.evaluate([pools[1].address], base_fee_wei=0, observed_tip_wei=GWEI, **kwargs)
    [dear] = market.evaluate([pools[1].address], base_fee_wei=0, observed_tip_wei=3 * GWEI, **kwargs)
    units = cheap.gas_estimate
    assert cheap.gas_cost_usd == Decimal(units * GWEI) / 10**18 * 600
    assert dear.gas_cost_usd == 3 * cheap.gas_cost_usd
    assert dear.profit_usd == cheap.profit_usd - 2 * cheap.gas_cost_usd
    # A block whose figure is 0 (no floor, no base fee, an empty block) never means free gas.
    [empty] = market.evaluate([pools[1].address], base_fee_wei=0, observed_tip_wei=0, **kwargs)
    assert empty.gas_cost_usd == dear.gas_cost_usd
    # The chain's floors come from the registry through MarketConfig.
    floored = _priced_market(pools, dataclasses.replace(CONFIG, min_gas_price_wei=5 * GWEI))
    [at_floor] = floored.evaluate([pools[1].address], base_fee_wei=0, observed_tip_wei=GWEI, **kwargs)
    assert at_floor.gas_cost_usd == 5 * cheap.gas_cost_usd


# --------------------------------------------------------------------------- per-pair fees


def _biswap_row(n: int, reserve0: int, reserve1: int, *, fee: int | None, read: int | None) -> PoolRow:
    # Biswap's default (20 bps) is the row's fee until the pair's own has been read.
    return PoolRow(n, f"0x{n:040x}", "Biswap", 20 if fee is None else fee, A, U, reserve0, reserve1, None, True, read)


def _profit_at(fee_a: int, fee_b: int, amount: int, r: tuple[int, int], s: tuple[int, int]) -> int:
    """A → U through pool 2 (fee_b), U → A through pool 1 (fee_a): the contracts' integer maths."""
    mid = get_amount_out(amount, s[0], s[1], fee_b)
    return get_amount_out(mid, r[1], r[0], fee_a) - amount


def test_a_pair_whose_fee_was_never_read_is_not_traded_until_it_is() -> None:
    other = PoolRow(1, "0x" + "01" * 20, "dex25", 25, A, U, 10**24, 10**24, None)
    unread = _biswap_row(2, 10**24, 10**24, fee=None, read=None)
    market = _priced_market([other, unread], dataclasses.replace(CONFIG, fee_refresh_blocks=100))
    assert market.skipped == {unread.address.lower(): "per-pair fee not read yet"}
    assert market.fee_reads_due(at_block=0) == [unread.address]
    # Its reserves move while it waits; it joins with them once its fee is read.
    market.apply_sync(unread.address, 10**24, 12 * 10**23)
    kwargs: dict[str, Any] = {"block_number": 1, "block_hash": "0x1", "policy": ScanPolicy(Decimal(0))}
    assert market.evaluate([unread.address], base_fee_wei=0, **kwargs) == []
    assert market.apply_fees({unread.address: 10}, block=5) == [(2, 10)]
    assert not market.skipped and market.fee_reads_due(at_block=5) == []
    [draft] = market.evaluate([unread.address], base_fee_wei=0, **kwargs)
    assert draft.path_pools[0] == unread.address
    assert draft.profit_raw == _profit_at(25, 10, draft.amount_in, (10**24, 10**24), (10**24, 12 * 10**23))


def test_a_fee_read_again_is_used_from_then_on_and_failed_reads_keep_the_last_one() -> None:
    config = dataclasses.replace(CONFIG, fee_refresh_blocks=100)
    other = PoolRow(1, "0x" + "01" * 20, "dex25", 25, A, U, 10**24, 10**24, None)
    pair = _biswap_row(2, 10**24, 12 * 10**23, fee=10, read=50)
    market = _priced_market([other, pair], config)
    kwargs: dict[str, Any] = {"block_number": 1, "block_hash": "0x1", "policy": ScanPolicy(Decimal(0))}
    [at_10] = market.evaluate([pair.address], base_fee_wei=0, **kwargs)
    # Due again only once its last read is refresh_blocks old.
    assert market.fee_reads_due(at_block=149) == []
    assert market.fee_reads_due(at_block=150) == [pair.address]
    assert market.apply_fees({pair.address: None}, block=150) == []  # swapFee() failed: keep 10, retry later
    assert market.fee_reads_due(at_block=150) == [pair.address]
    assert market.apply_fees({pair.address: 30}, block=150) == [(2, 30)]
    [at_30] = market.evaluate([pair.address], base_fee_wei=0, **kwargs)
    r, s = (10**24, 10**24), (10**24, 12 * 10**23)
    assert at_10.profit_raw == _profit_at(25, 10, at_10.amount_in, r, s)
    assert at_30.profit_raw == _profit_at(25, 30, at_30.amount_in, r, s)
    assert at_30.profit_raw < at_10.profit_raw


def test_swap_fee_answer_decodes_in_biswaps_unit() -> None:
    word = (2).to_bytes(32, "big")
    assert swap_fee_bps_decode(True, word) == 20
    assert swap_fee_bps_decode(True, (1).to_bytes(32, "big")) == 10
    assert swap_fee_bps_decode(False, word) is None  # reverted (a fork without swapFee())
    assert swap_fee_bps_decode(True, b"") is None  # no code at that address (yet)
    assert swap_fee_bps_decode(True, (1000).to_bytes(32, "big")) is None  # 100 %: not a fee to trade through


# --------------------------------------------------------------------------- registry


def _entry(**extra: Any) -> dict[str, Any]:
    return {
        "chain_id": 56, "block_time": 0.45, "rpc_urls": ["http://127.0.0.1:1"],
        "dexes": [{"name": "Biswap", "factory": "0x" + "bb" * 20, "fee_bps": 10, "fee_per_pair": True},
                  {"name": "PancakeSwap V2", "factory": "0x" + "cc" * 20, "fee_bps": 25}],
        **extra,
    }  # fmt: skip


def test_registry_keeps_fee_per_pair_and_the_gas_floors() -> None:
    config = chain_config_parse(_entry(min_gas_price_wei=50_000_000, min_priority_fee_wei="25000000000"), environ={})
    assert [d.fee_per_pair for d in config.dexes] == [True, False]
    assert config.min_gas_price_wei == 50_000_000 and config.min_priority_fee_wei == 25 * GWEI
    assert "min_gas_price_wei" not in config.extra
    market = MarketConfig.from_chain_config(config, min_liquidity_usd=0)
    assert (market.min_gas_price_wei, market.min_priority_fee_wei) == (50_000_000, 25 * GWEI)


@pytest.mark.parametrize(
    "entry",
    [
        _entry(min_gas_price_wei=-1),
        _entry(min_priority_fee_wei=1.5),
        _entry(min_gas_price_wei=True),
        _entry(dexes=[{"name": "Biswap", "factory": "0x" + "bb" * 20, "fee_bps": 10, "fee_per_pair": "yes"}]),
    ],
)
def test_registry_refuses_malformed_fee_and_gas_keys(entry: dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured):
        chain_config_parse(entry, environ={})


def test_the_mainnet_registry_files_name_their_floors_and_biswaps_per_pair_fee() -> None:
    from chains.config import registry_load

    chains = registry_load(["chains/registry/bsc.json", "chains/registry/polygon.json"], environ={})
    assert chains[56].min_gas_price_wei == 50_000_000
    assert chains[137].min_priority_fee_wei == 25 * GWEI
    assert {d.name for d in chains[56].dexes if d.fee_per_pair} == {"Biswap"}
