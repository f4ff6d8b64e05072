"""Benchmark: the pool scanner's cost per block as tracked and changed pools grow; RPC calls per block.

Synthetic markets shaped like BSC (a few hundred tokens, WBNB and three
stablecoins plus ETH/BTCB as base tokens, each pair on 1-3 DEXes, reserves
from a "true" USD price with ±0.6% noise per pool). Each block swaps a random
set of pools by up to ±2% and runs the scanner on that block's Sync logs.

Two measurements per (tracked, changed) cell, median and p95 over the blocks:

* ``evaluate``: ``market_scan_blocks`` — apply the block's Syncs to the
  in-memory market, reprice, best cycle per changed pool, gas, imbalance,
  opportunity drafts. This is what the ≤ 50 ms target (200 changed pools among
  10,000 tracked) is about;
* ``process``: the pool scanner's pipeline (``scanning.loop.batch_process``) on a ``BlockBatch`` of real-shaped logs:
  Sync decoding + evaluate + the database writes (pool reserves, opportunity
  rows) inside one transaction, on an in-memory SQLite database.

CPU is the process's CPU time over the same span (``time.process_time``).
With ``--devnet`` it also starts an anvil devnet, runs the market simulator and
counts the JSON-RPC requests the scan loop makes per block, live-following
(one block per run) and catching up (many blocks per run).

    .venv/bin/python bench/scan_pools.py [--blocks 20] [--seed 1] [--devnet] [--quick] [--v3-share 0.5]

``--v3-share`` makes that share of the pools PancakeSwap V3 pools (fee tiers 100/500/2500, with
about 60 initialized ticks each: a base range plus 30 nested positions a few spacings to a few
hundred spacings wide around the price); a changed V3 pool is a Swap moving its price by up to
±2 % (crossing initialized ticks), applied from its ``Swap`` event as the scanner does.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbmonitor.settings")
os.environ.setdefault("DEBUG", "1")
os.environ["DATABASE_URL"] = "sqlite://:memory:"

import django

django.setup()

from eth_utils import to_checksum_address  # noqa: E402
from synthetic_pairs import random_pairs  # noqa: E402

E18 = 10**18
STABLES = ("USDT", "BUSD", "USDC")
BASES = ("WBNB", "USDT", "BUSD", "USDC", "ETH", "BTCB")
DEXES = (("PancakeSwap V2", 25), ("Biswap", 10), ("ApeSwap", 20))
V3_DEX = "PancakeSwap V3"
V3_TIERS = ((100, 1), (500, 10), (2500, 50))
SYNC_TOPIC = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"


def _v3_state(rng: random.Random, r0: int, r1: int) -> Any:
    """A PancakeSwap V3 pool priced r1/r0 with about as much in-range depth, ~60 initialized ticks."""
    from math import isqrt

    from dexes.uniswap_v3.pool import V3PoolState
    from dexes.uniswap_v3.tick_math import get_tick_at_sqrt_ratio

    fee, spacing = rng.choice(V3_TIERS)
    sqrt_price = isqrt((r1 << 192) // r0)
    tick = get_tick_at_sqrt_ratio(sqrt_price)
    state = V3PoolState(sqrt_price_x96=sqrt_price, tick=tick, liquidity=0, fee=fee, tick_spacing=spacing)
    depth = isqrt(r0 * r1)
    centre = tick // spacing
    state.apply_mint((centre - 3000) * spacing, (centre + 3000) * spacing, max(depth // 4, 1))
    for _ in range(30):
        width = int(10 ** rng.uniform(0, 2.5))
        lower = centre - rng.randint(1, width)
        upper = centre + rng.randint(1, width)
        state.apply_mint(lower * spacing, upper * spacing, max(int(depth * rng.uniform(0.02, 0.2)), 1))
    return state


def _address(prefix: int, n: int) -> str:
    return to_checksum_address(f"0x{prefix:02x}{n:038x}")


class SyntheticMarket:
    """Tokens, pools and a price model; pools are (address, dex, fee, token0, token1, reserve0, reserve1)."""

    def __init__(self, pool_count: int, token_count: int, rng: random.Random, v3_share: float = 0.0) -> None:
        self.rng = rng
        prices = {"WBNB": 600.0, "USDT": 1.0, "BUSD": 1.0, "USDC": 1.0, "ETH": 3000.0, "BTCB": 90000.0}
        names = list(prices) + [f"T{i:04d}" for i in range(token_count)]
        for name in names[len(BASES) :]:
            prices[name] = 10 ** rng.uniform(-4, 3)
        self.address = {name: _address(0x10, i) for i, name in enumerate(names)}
        self.prices = prices
        pairs = random_pairs(rng, BASES, names[len(BASES) :])
        self.pools: list[tuple[str, str, int, str, str, int, int]] = []
        index = 0
        while len(self.pools) < pool_count:
            if index >= len(pairs):
                pairs.add(rng.choice(names), rng.choice(names))
                continue
            a, b = pairs[index]
            index += 1
            for dex, fee in rng.sample(DEXES, rng.choice((1, 2, 2, 3))):
                if len(self.pools) >= pool_count:
                    break
                liquidity = 10 ** rng.uniform(3, 7)
                reserve_a = max(int(liquidity / prices[a] * E18 * (1 + rng.uniform(-0.006, 0.006))), 10**6)
                reserve_b = max(int(liquidity / prices[b] * E18), 10**6)
                t0, t1 = sorted((self.address[a], self.address[b]), key=str.lower)
                r0, r1 = (reserve_a, reserve_b) if t0 == self.address[a] else (reserve_b, reserve_a)
                self.pools.append((_address(0x20, len(self.pools)), dex, fee, t0, t1, r0, r1))
        self.reserves = {p[0]: (p[5], p[6]) for p in self.pools}
        # V3 pools: a share of the pools, chosen at random, get a concentrated-liquidity state instead.
        self.v3: dict[str, Any] = {}
        for address, _dex, _fee, _t0, _t1, r0, r1 in rng.sample(self.pools, int(len(self.pools) * v3_share)):
            self.v3[address] = _v3_state(rng, r0, r1)

    def chain_config(self) -> Any:
        from chains.config import chain_config_parse

        return chain_config_parse(
            {
                "chain_id": 56,
                "name": "bench",
                "native_symbol": "BNB",
                "block_time": 0.45,
                "rpc_urls": ["http://127.0.0.1:1"],
                "wrapped_native": self.address["WBNB"],
                "stable_tokens": [self.address[s] for s in STABLES],
                "base_tokens": [self.address[b] for b in BASES],
            },
            environ={},
        )

    def swap_block(self, count: int) -> list[tuple[str, int, int]]:
        """New reserves of ``count`` random pools after a ±2% swap each."""
        changed = []
        for address, *_ in self.rng.sample(self.pools, count):
            if address in self.v3:
                continue
            r0, r1 = self.reserves[address]
            new0 = int(r0 * (1 + self.rng.uniform(-0.02, 0.02)))
            new1 = r0 * r1 // new0
            self.reserves[address] = (new0, new1)
            changed.append((address, new0, new1))
        return changed

    def swap_block_v3(self, count: int) -> list[Any]:
        """``Swap`` events of the V3 pools among ``count`` random pools (the same draw as ``swap_block``):
        each moves the price by up to ±2 %; the bench's own states follow."""
        from math import isqrt

        from dexes.uniswap_v3.events import SwapEvent

        events = []
        rng = self.rng
        for address in [a for a in self._last_draw if a in self.v3]:
            state = self.v3[address]
            move = rng.uniform(-0.02, 0.02)
            target = isqrt(int(state.sqrt_price_x96**2 * (1 + move)))
            zero_for_one = target < state.sqrt_price_x96
            result = state.swap(zero_for_one, 10**40, target)
            state.apply_swap(result.sqrt_price_x96, result.liquidity, result.tick)
            events.append(
                SwapEvent(address.lower(), address, address, result.amount0, result.amount1,
                          result.sqrt_price_x96, result.liquidity, result.tick)
            )  # fmt: skip
        return events

    def block(self, count: int) -> tuple[list[tuple[str, int, int]], list[Any]]:
        """One block: (V2 Syncs, V3 Swap events) of ``count`` random pools."""
        state = self.rng.getstate()
        self._last_draw = [p[0] for p in self.rng.sample(self.pools, count)]
        self.rng.setstate(state)
        syncs = self.swap_block(count)
        return syncs, self.swap_block_v3(count)


def _db_setup() -> None:
    from django.db import connection
    from django.test.utils import setup_test_environment

    from opportunities import services

    services._broadcaster = lambda: None  # no WebSocket fan-out in a CPU benchmark
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)


def _db_load(market: SyntheticMarket) -> None:
    from chains.models import Chain, Dex, Pool, ScanCursor, Token
    from opportunities.models import Opportunity

    Opportunity.objects.all().delete()
    Pool.objects.all().delete()
    Token.objects.all().delete()
    Dex.objects.all().delete()
    ScanCursor.objects.all().delete()
    chain, _ = Chain.objects.get_or_create(
        chain_id=56, defaults={"name": "bench", "native_symbol": "BNB", "block_time": 0.45}
    )
    tokens = Token.objects.bulk_create(
        [Token(chain=chain, address=a, symbol=name, decimals=18) for name, a in market.address.items()]
    )
    token_id = {t.address: t.pk for t in tokens}
    dexes = {  # Biswap charges per pair (its fee read from swapFee() at block 0): the scanner's refresh bookkeeping
        name: Dex.objects.create(
            chain=chain, name=name, factory_address=_address(0x30, i), fee_bps=fee, fee_per_pair=name == "Biswap"
        )
        for i, (name, fee) in enumerate(DEXES)
    }
    v3_dex = Dex.objects.create(
        chain=chain, name=V3_DEX, factory_address=_address(0x31, 0), fee_bps=0, family="pancakeswap_v3"
    )
    Pool.objects.bulk_create(
        [
            Pool(
                chain=chain,
                dex=v3_dex if address in market.v3 else dexes[dex],
                address=address,
                token0_id=token_id[t0],
                token1_id=token_id[t1],
                reserve0=r0,
                reserve1=r1,
                last_block=0,
                fee_bps=fee if dex == "Biswap" else None,
                fee_read_block=0 if dex == "Biswap" else None,
            )
            for address, dex, fee, t0, t1, r0, r1 in market.pools
        ],
        batch_size=2000,
    )
    from chains.models import ConcentratedPoolState
    from chains.v3pools import cl_state_row

    ids = dict(Pool.objects.filter(address__in=list(market.v3)).values_list("address", "pk"))
    ConcentratedPoolState.objects.bulk_create(
        [cl_state_row(ids[address], state, block=0) for address, state in market.v3.items()], batch_size=500
    )


class _BenchClient:
    """What the processor reads in a live batch, answered in memory: ``eth_feeHistory`` (the block's observed
    tip, 1 gwei) and Multicall3 reads of Biswap's ``swapFee()`` when a refresh is due (1 = 10 bps)."""

    chain_id = 56

    def call(self, method: str, params: list[Any]) -> Any:
        assert method == "eth_feeHistory", method
        count, newest = int(params[0], 16), int(params[1], 16)
        return {"oldestBlock": hex(newest - count + 1), "reward": [[hex(10**9)]] * count}

    def multicall(self, calls: list[Any], *, block: Any = None) -> list[Any]:
        from evm.rpc import CallResult

        return [CallResult(True, (1).to_bytes(32, "big")) for _ in calls]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, result


def _swap_log(number: int, block_hash: str, index: int, event: Any) -> Any:
    """A PancakeSwap V3 ``Swap`` log carrying ``event``'s values."""
    from dexes.pancakeswap_v3.events import SWAP_TOPIC
    from evm.rpc import LogRecord

    def word(value: int) -> bytes:
        return (value % (1 << 256)).to_bytes(32, "big")

    data = b"".join(
        word(v) for v in (event.amount0, event.amount1, event.sqrt_price_x96, event.liquidity, event.tick, 0, 0)
    )
    topic = "0x" + "00" * 12 + event.sender[2:].lower()
    topics = (SWAP_TOPIC, topic, topic)
    return LogRecord(number, block_hash, f"0x{index:064x}", index, index, event.sender, topics, data)


def run_cell(
    pool_count: int, token_count: int, changed_counts: list[int], blocks: int, seed: int, v3_share: float = 0.0
) -> list[str]:
    from evm.rpc import BlockHeader, LogRecord
    from opportunities.scanner import (
        BlockSyncs,
        MarketConfig,
        PoolScanner,
        ScanPolicy,
        SyncUpdate,
        market_at,
        market_forget,
        market_scan_blocks,
    )
    from scanning.loop import BlockBatch, batch_process

    rng = random.Random(seed)
    market = SyntheticMarket(pool_count, token_count, rng, v3_share)
    _db_load(market)
    config = market.chain_config()
    policy = ScanPolicy(min_profit_usd=Decimal(1), priority_fee_wei=0)
    base_fee = 1_000_000_000
    lines = []
    started = time.perf_counter()
    market_forget()
    # The processor's own cached market: the evaluate phase advances it, the process phase continues with it.
    memory = market_at(config=MarketConfig.from_chain_config(config), block_number=0)
    load_ms = (time.perf_counter() - started) * 1000
    number = 0
    for changed_count in changed_counts:
        if changed_count > pool_count:
            continue
        # 1. evaluate: the in-memory part alone.
        walls, cpus, found = [], [], []
        for _ in range(blocks):
            number += 1
            syncs, swaps = market.block(changed_count)
            block = BlockSyncs(
                number,
                f"0x{number:064x}",
                base_fee,
                tuple(SyncUpdate(*c) for c in syncs),
                priority_fee_wei=10**9,
                cl_events=tuple((event.pool, event) for event in swaps),
            )
            wall, cpu, drafts = _timed(lambda block=block: market_scan_blocks(memory, [block], policy=policy))
            walls.append(wall)
            cpus.append(cpu)
            found.append(len(drafts))
        # 2. process: decode + evaluate + DB writes, through the processor's pipeline (same in-memory market).
        scanner = PoolScanner(56, config=config, client=_BenchClient(), policy=policy)
        process_walls, process_cpus = [], []
        for _ in range(blocks):
            number += 1
            changes, swaps = market.block(changed_count)
            header = BlockHeader(number, f"0x{number:064x}", f"0x{number - 1:064x}", 0, "0x0", base_fee)
            logs = [
                LogRecord(
                    number, header.hash, f"0x{i:064x}", i, i, address, (SYNC_TOPIC,),
                    r0.to_bytes(32, "big") + r1.to_bytes(32, "big"),
                )
                for i, (address, r0, r1) in enumerate(changes)
            ]  # fmt: skip
            logs += [_swap_log(number, header.hash, len(logs) + i, event) for i, event in enumerate(swaps)]
            batch = BlockBatch(chain=config, client=None, headers=[header], logs=logs)  # type: ignore[arg-type]

            def process(batch: Any = batch, scanner: PoolScanner = scanner) -> None:
                batch_process(scanner, batch)  # fetch (tips, due fees: in memory) -> compute -> write

            wall, cpu, _ = _timed(process)
            process_walls.append(wall)
            process_cpus.append(cpu)
        lines.append(
            f"| {pool_count:,} | {changed_count} | {statistics.median(walls):.1f} | {_percentile(walls, 0.95):.1f} | "
            f"{statistics.median(cpus):.1f} | {statistics.median(process_walls):.1f} | "
            f"{_percentile(process_walls, 0.95):.1f} | {statistics.median(process_cpus):.1f} | "
            f"{statistics.mean(found):.0f} | {load_ms / 1000:.1f} s |"
        )
        print(lines[-1], flush=True)
    return lines


# --------------------------------------------------------------------------- RPC calls per block (devnet)


def rpc_per_block(blocks: int) -> list[str]:
    from django.conf import settings

    from arbmonitor.embedded_redis import EmbeddedRedis

    embedded = None
    if not os.environ.get("REDIS_URL"):  # the scan lock needs a Redis
        embedded = EmbeddedRedis().start()
        settings.REDIS_URL = embedded.url
    try:
        return _rpc_per_block(blocks)
    finally:
        if embedded is not None:
            embedded.stop()


def _rpc_per_block(blocks: int) -> list[str]:
    from django.db import connection

    from chains.config import chain_config_parse
    from chains.models import ScanCursor
    from devnet.pytest_plugin import devnet_session
    from opportunities.models import Opportunity
    from opportunities.scanner import market_forget, pool_scan_run

    lines = []
    with tempfile.TemporaryDirectory() as workdir, devnet_session(56, Path(workdir)) as net:
        config = chain_config_parse(dict(net.manifest), source=str(net.manifest_path), environ={})
        from chains.clients import chain_client_new

        client = chain_client_new(config)
        from chains.models import Chain, Dex, Pool, ScannedBlock, Token

        # The synthetic rows go; the devnet's registry entry replaces them.
        for model in (Opportunity, Pool, Token, Dex, ScanCursor, ScannedBlock, Chain):
            model.objects.all().delete()
        market_forget()
        while True:  # catch up with the deployment
            report = pool_scan_run(chain_id=56, config=config, client=client)
            if report.to_block is None or report.to_block == report.head:
                break
        with net.simulator(seed=3) as simulator:
            # Live-following: one new block per run.
            requests, scanned, found = 0, 0, 0
            for _ in range(blocks):
                simulator.simulate_blocks(1)
                report = pool_scan_run(chain_id=56, config=config, client=client)
                requests += report.rpc_requests
                scanned += report.blocks
                found += report.extra.get("opportunities", 0)
            lines.append(
                f"| live (1 block per run) | {scanned} | {requests} | {requests / max(scanned, 1):.2f} | {found} |"
            )
            # Catching up: many blocks per run.
            simulator.simulate_blocks(blocks)
            report = pool_scan_run(chain_id=56, config=config, client=client)
            lines.append(
                f"| catch-up ({report.blocks} blocks per run) | {report.blocks} | {report.rpc_requests} | "
                f"{report.rpc_requests / max(report.blocks, 1):.2f} | {report.extra.get('opportunities', 0)} |"
            )
        print("\n".join(lines), flush=True)
        Opportunity.objects.all().delete()
        connection.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--devnet", action="store_true", help="also count RPC requests per block on an anvil devnet")
    parser.add_argument("--quick", action="store_true", help="10,000 pools × 200 changed only")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic markets (with --devnet)")
    parser.add_argument("--v3-share", type=float, default=0.0, help="share of the pools that are V3 pools")
    args = parser.parse_args()
    _db_setup()
    print(
        "| tracked pools | changed pools | evaluate median ms | evaluate p95 ms | evaluate CPU ms | "
        "process median ms | process p95 ms | process CPU ms | opportunities/block | market load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    if args.no_synthetic:
        pass
    elif args.quick:
        run_cell(10_000, 400, [200], args.blocks, args.seed, args.v3_share)
    else:
        for pool_count, token_count in ((1_000, 300), (10_000, 400), (50_000, 800)):
            run_cell(pool_count, token_count, [20, 200, 1000], args.blocks, args.seed, args.v3_share)
    if args.devnet:
        print()
        print("| scan mode | blocks | RPC requests | requests/block | opportunities |")
        print("|---|---|---|---|---|")
        rpc_per_block(args.blocks)


if __name__ == "__main__":
    main()
