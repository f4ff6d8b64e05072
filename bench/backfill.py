"""Benchmark: backfilling arbitrage transactions from a local anvil node.

Starts an anvil devnet (chain 56), runs the market simulator with enough noise
swaps for the wanted density (plus its arbitrages and decoys), then backfills
the range exactly as ``manage.py backfill --kind transactions`` does
(``scanning.loop.scan_range`` with ``ArbitrageMonitor``, bounded batches,
capture sweep), into an in-memory SQLite database. Reports wall blocks/s, this
process's CPU per block, anvil's CPU per block, RPC requests per block, and
checks the result against the simulator's ground truth.

    .venv/bin/python bench/backfill.py [--densities 50,200] [--blocks 400,150] [--batch 100]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbmonitor.settings")
os.environ.setdefault("DEBUG", "1")
os.environ["DATABASE_URL"] = "sqlite://:memory:"

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of another process (Linux /proc), for anvil's share."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _devnet(devnet_session: Any, workdir: Path) -> Iterator[Any]:
    """devnet_session, retried: deployment sometimes loses a transaction on a loaded machine."""
    for attempt in range(3):
        try:
            session = devnet_session(56, workdir / str(attempt))
            net = session.__enter__()
        except RuntimeError as exc:
            print(f"  devnet deployment failed ({exc}); retrying", flush=True)
            continue
        try:
            yield net
        finally:
            session.__exit__(None, None, None)
        return
    raise RuntimeError("devnet deployment failed three times")


def generate(net: Any, blocks: int, swaps_per_block: int, seed: int) -> list[dict[str, Any]]:
    """Simulator blocks (arbitrages, decoys, a little noise) plus extra router trades up to the density.

    The extra trades go out in one JSON-RPC batch per block; a quarter are
    two-hop routes (two Swaps in one transaction, like aggregator trades),
    the rest single swaps. anvil (``--order fees``) drops, rather than defers,
    a transaction whose sender's earlier nonce bids less, so every extra
    trade bids below whatever its sender already sent in the block (the
    simulator's own noise and decoys come from the same traders; it keeps
    the per-sender bids in ``_block_bids``). The number of extra swaps is
    steered by the Swap logs actually mined so far, so the range averages
    the density it claims.
    """
    import random

    from devnet.rpc import abi
    from devnet.simulator import DEADLINE, SWAP_TOPIC, read_truth

    rng = random.Random(seed)
    mined_swaps = 0
    with net.simulator(seed, noise_per_block=2.0) as sim:
        routes = sim._paths(2, closed=False)
        pools = list(sim.pools.values())
        traders = sim.traders
        for i in range(blocks):
            sim.step()
            # What the simulator adds per block is known only after mining: aim at the running shortfall.
            sim_swaps = 2 * len(sim.pending) + 2  # arbitrages/decoys (~2 swaps each) + noise, a first guess
            extra = max(swaps_per_block * (i + 1) - mined_swaps - sim_swaps, 0)
            txs, swaps = [], 0
            while swaps < extra:
                trader = traders[len(txs) % len(traders)]
                price = min(sim._block_bids.get(trader, sim.gas_price * 2), sim.gas_price * 2) - 1
                sim._block_bids[trader] = price
                if rng.random() < 0.25 and routes and extra - swaps >= 2:
                    dex, path = rng.choice(routes)
                    swaps += 2
                else:
                    pool = rng.choice(pools)
                    path = [pool.token0, pool.token1] if rng.random() < 0.5 else [pool.token1, pool.token0]
                    dex = pool.dex
                    swaps += 1
                amount = 10 ** rng.randint(12, 15)
                data = abi("V2Router").swapExactTokensForTokens.encode(amount, 0, path, trader, DEADLINE)
                txs.append(sim.chain.tx(trader, sim.routers[dex], data, gas=400_000, gas_price=price))
            if txs:
                sim.chain.send_many(txs)
            sim.chain.mine()
            number = hex(net.block_number())
            mined_swaps += len(
                sim.chain.rpc("eth_getLogs", [{"fromBlock": number, "toBlock": number, "topics": [SWAP_TOPIC]}])
            )
            sim.resolve_pending()
            sim.chain.reset_nonces()  # should a tx still be dropped, the next block starts from the node's nonces
            if (i + 1) % 50 == 0:
                print(f"  generated {i + 1}/{blocks} blocks, {mined_swaps / (i + 1):.1f} swaps/block", flush=True)
        sim.resolve_pending()
        sim.close()
        return read_truth(sim.truth_path)


def backfill(config: Any, first: int, last: int, batch: int, measure_coinbase: bool | None = None) -> dict[str, Any]:
    from chains.clients import chain_client_new
    from scanning.loop import scan_range
    from transactions.monitor import ArbitrageMonitor

    client = chain_client_new(config)
    monitor = ArbitrageMonitor(config=config, client=client, measure_coinbase=measure_coinbase)
    logs = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for start in range(first, last + 1, batch):
        end = min(start + batch - 1, last)
        report = scan_range(
            config.chain_id, monitor, from_block=start, to_block=end, chunk_blocks=batch, config=config, client=client
        )
        logs += report.logs
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"wall": wall, "cpu": cpu, "swap_logs": logs, "requests": client.request_count, "stats": monitor.stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--densities", default="50,200", help="Swaps per block to generate, comma separated.")
    parser.add_argument("--blocks", default="400,150", help="Blocks per density, comma separated.")
    parser.add_argument("--batch", type=int, default=None, help="Blocks per batch (default BACKFILL_BATCH_BLOCKS).")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the backfill.")
    parser.add_argument(
        "--skip-tips", action="store_true", help="As `backfill --skip-tips`: no builder-tip measurement."
    )
    args = parser.parse_args()
    densities = [int(x) for x in args.densities.split(",")]
    block_counts = [int(x) for x in args.blocks.split(",")]
    batch = args.batch or int(settings.BACKFILL_BATCH_BLOCKS)

    from chains.config import chain_config_parse
    from chains.services import chain_registry_sync
    from devnet.pytest_plugin import devnet_session
    from transactions.models import ArbitrageTransaction

    call_command("migrate", verbosity=0)
    rows = []
    for density, blocks in zip(densities, block_counts, strict=True):
        with tempfile.TemporaryDirectory() as workdir, _devnet(devnet_session, Path(workdir)) as net:
            print(f"density {density} swaps/block: generating {blocks} blocks …", flush=True)
            first = net.block_number() + 1
            truth = generate(net, blocks, density, args.seed)
            last = net.block_number()
            # The devnet can mine empty blocks before the first simulated one: bench only the simulated range.
            while first < last and not net.w3.eth.get_block(first)["transactions"]:
                first += 1
            print(f"  blocks {first}-{last}", flush=True)
            config = chain_config_parse(net.manifest, source="bench", environ={})
            ArbitrageTransaction.objects.all().delete()
            chain_registry_sync(config=config)
            anvil_cpu0 = _proc_cpu_seconds(net.anvil.pid) if net.anvil.pid else 0.0
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
            result = backfill(config, first, last, batch, measure_coinbase=False if args.skip_tips else None)
            if args.profile:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            anvil_cpu = (_proc_cpu_seconds(net.anvil.pid) if net.anvil.pid else 0.0) - anvil_cpu0
            n = last - first + 1
            expected = {line["tx_hash"].lower() for line in truth if line["kind"] == "arbitrage"}
            found = set(ArbitrageTransaction.objects.values_list("tx_hash", flat=True))
            row = {
                "density": density,
                "blocks": n,
                "swaps/block": result["swap_logs"] / n,
                "blocks/s": n / result["wall"],
                "cpu ms/block": 1000 * result["cpu"] / n,
                "anvil cpu ms/block": 1000 * anvil_cpu / n,
                "requests/block": result["requests"] / n,
                "arbitrage txs": len(found),
                "recall": len(found & expected) / max(len(expected), 1),
                "precision": len(found & expected) / max(len(found), 1),
            }
            rows.append(row)
            print("  " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    print()
    header = (
        "swaps/block (target)", "swaps/block (actual)", "blocks", "blocks/s", "CPU ms/block (python)",
        "CPU ms/block (anvil)", "RPC requests/block", "arbitrage txs", "recall", "precision",
    )  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        cells = (
            r["density"], f"{r['swaps/block']:.1f}", r["blocks"], f"{r['blocks/s']:.0f}", f"{r['cpu ms/block']:.2f}",
            f"{r['anvil cpu ms/block']:.2f}", f"{r['requests/block']:.3f}", r["arbitrage txs"],
            f"{r['recall']:.0%}", f"{r['precision']:.0%}",
        )  # fmt: skip
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
