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

    .venv/bin/python bench/scan_pools.py [--blocks 20] [--seed 1] [--devnet] [--quick]
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
SYNC_TOPIC = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"


def _address(prefix: int, n: int) -> str:
    return to_checksum_address(f"0x{prefix:02x}{n:038x}")


class SyntheticMarket:
    """Tokens, pools and a price model; pools are (address, dex, fee, token0, token1, reserve0, reserve1)."""

    def __init__(self, pool_count: int, token_count: int, rng: random.Random) -> None:
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
            r0, r1 = self.reserves[address]
            new0 = int(r0 * (1 + self.rng.uniform(-0.02, 0.02)))
            new1 = r0 * r1 // new0
            self.reserves[address] = (new0, new1)
            changed.append((address, new0, new1))
        return changed


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
    Pool.objects.bulk_create(
        [
            Pool(
                chain=chain,
                dex=dexes[dex],
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


def run_cell(pool_count: int, token_count: int, changed_counts: list[int], blocks: int, seed: int) -> list[str]:
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
    market = SyntheticMarket(pool_count, token_count, rng)
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
            syncs = tuple(SyncUpdate(*c) for c in market.swap_block(changed_count))
            block = BlockSyncs(number, f"0x{number:064x}", base_fee, syncs, priority_fee_wei=10**9)
            wall, cpu, drafts = _timed(lambda block=block: market_scan_blocks(memory, [block], policy=policy))
            walls.append(wall)
            cpus.append(cpu)
            found.append(len(drafts))
        # 2. process: decode + evaluate + DB writes, through the processor's pipeline (same in-memory market).
        scanner = PoolScanner(56, config=config, client=_BenchClient(), policy=policy)
        process_walls, process_cpus = [], []
        for _ in range(blocks):
            number += 1
            changes = market.swap_block(changed_count)
            header = BlockHeader(number, f"0x{number:064x}", f"0x{number - 1:064x}", 0, "0x0", base_fee)
            logs = [
                LogRecord(
                    number, header.hash, f"0x{i:064x}", i, i, address, (SYNC_TOPIC,),
                    r0.to_bytes(32, "big") + r1.to_bytes(32, "big"),
                )
                for i, (address, r0, r1) in enumerate(changes)
            ]  # fmt: skip
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
        run_cell(10_000, 400, [200], args.blocks, args.seed)
    else:
        for pool_count, token_count in ((1_000, 300), (10_000, 400), (50_000, 800)):
            run_cell(pool_count, token_count, [20, 200, 1000], args.blocks, args.seed)
    if args.devnet:
        print()
        print("| scan mode | blocks | RPC requests | requests/block | opportunities |")
        print("|---|---|---|---|---|")
        rpc_per_block(args.blocks)


if __name__ == "__main__":
    main()
