"""`python -m devnet {compile,up,deploy,simulate}`.

up: start the chains, deploy, write manifests, run the simulator until
Ctrl-C (or --duration), then stop everything. No anvil outlives this process.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from devnet import REPO_ROOT
from devnet.anvil import DEFAULT_BLOCK_TIME, AnvilProcess, stop_all
from devnet.blocktimer import BlockTimer
from devnet.deploy import default_manifest_path, deploy, load_manifest, set_mining
from devnet.markets import market_for
from devnet.rpc import Chain
from devnet.simulator import SimConfig, Simulator, default_truth_path


def _chains(value: str) -> list[int]:
    try:
        return [int(c) for c in value.split(",") if c]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--chains wants ids like 56,137, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("compile", help="compile devnet/contracts into devnet/artifacts")

    up = sub.add_parser("up", help="start chains, deploy, simulate until Ctrl-C")
    up.add_argument("--chains", type=_chains, default=[56, 137], help="comma-separated chain ids (56,137)")
    up.add_argument("--port-56", type=int, default=8545, help="0 = any free port")
    up.add_argument("--port-137", type=int, default=8546)
    # Real block times (BSC 0.45 s since Fermi, Polygon 2 s): the markets' block_time.
    up.add_argument("--block-time-56", type=float, default=market_for(56).block_time)
    up.add_argument("--block-time-137", type=float, default=market_for(137).block_time)
    up.add_argument("--seed", type=int, default=1)
    up.add_argument("--noise", type=float, default=4.0, help="noise swaps per block")
    up.add_argument("--decoys", type=float, default=1.0, help="decoy transactions per block")
    up.add_argument("--max-arbs", type=int, default=3, help="arbitrage transactions per block (max)")
    up.add_argument("--no-simulate", action="store_true", help="deploy only, no market activity")
    up.add_argument("--out-dir", type=Path, default=REPO_ROOT / "var" / "devnet", help="manifests, truth, logs")
    up.add_argument("--duration", type=float, default=None, help="stop after this many seconds")

    dep = sub.add_parser("deploy", help="deploy onto an existing anvil RPC")
    dep.add_argument("--rpc", required=True)
    dep.add_argument("--manifest", type=Path, default=None)
    dep.add_argument("--block-time", type=float, default=None, help="block time written to the manifest")

    sim = sub.add_parser("simulate", help="fast mode: simulate N blocks on a deployed RPC (automine off)")
    sim.add_argument("--rpc", required=True)
    sim.add_argument("--manifest", type=Path, required=True)
    sim.add_argument("--blocks", type=int, default=100)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--truth", type=Path, default=None)
    return parser


def cmd_compile() -> int:
    from devnet.compile import compile_contracts

    for path in compile_contracts():
        print(path.relative_to(REPO_ROOT))
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    chain = Chain(args.rpc)
    path = args.manifest or default_manifest_path(chain.chain_id)
    manifest = deploy(args.rpc, manifest_path=path, block_time=args.block_time)
    print(f"chain {manifest['chain_id']}: {len(manifest['pools'])} pools, manifest {path}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    chain = Chain(args.rpc)
    chain.rpc("evm_setAutomine", [False])
    config = SimConfig(seed=args.seed, truth_path=args.truth)
    with Simulator(args.rpc, manifest, config) as sim:
        stats = sim.simulate_blocks(args.blocks, progress=True)
    print(json.dumps(stats.as_dict()), f"truth: {sim.truth_path}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    stop = threading.Event()
    setting_up = True

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        print(f"\nsignal {signum}: stopping devnet...", file=sys.stderr, flush=True)
        stop.set()
        if setting_up:  # interrupt a deployment in progress; finally stops the nodes
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    nodes: list[AnvilProcess] = []
    threads: list[threading.Thread] = []
    sims: list[Simulator] = []
    timers: list[BlockTimer] = []
    try:
        for chain_id in args.chains:
            port = getattr(args, f"port_{chain_id}", None) or None  # 0: any free port
            block_time = getattr(args, f"block_time_{chain_id}", DEFAULT_BLOCK_TIME.get(chain_id, 1.0))
            node = AnvilProcess(
                chain_id=chain_id, port=port, automine=False, log_path=args.out_dir / f"anvil-{chain_id}.log"
            )
            nodes.append(node.start())
            manifest_path = args.out_dir / f"chain-{chain_id}.json"
            manifest = deploy(node.rpc_url, manifest_path=manifest_path, block_time=block_time)
            if float(block_time).is_integer():
                set_mining(Chain(node.rpc_url), block_time)
            else:  # evm_setIntervalMining takes whole seconds only (devnet/blocktimer.py)
                timers.append(BlockTimer(node.rpc_url, block_time).start())
            print(f"chain {chain_id}: {node.rpc_url} (block time {block_time}s), manifest {manifest_path}", flush=True)
            if args.no_simulate:
                continue
            config = SimConfig(
                seed=args.seed + chain_id,
                noise_per_block=args.noise,
                decoys_per_block=args.decoys,
                max_arbs_per_block=args.max_arbs,
                truth_path=args.out_dir / f"truth-{chain_id}.jsonl" if args.out_dir else default_truth_path(chain_id),
            )
            sim = Simulator(node.rpc_url, manifest, config)
            sims.append(sim)
            t = threading.Thread(
                target=sim.run_live, args=(stop, block_time, args.duration), name=f"sim-{chain_id}", daemon=True
            )
            threads.append(t)
            t.start()
        setting_up = False
        print("devnet up; Ctrl-C to stop", flush=True)
        started = time.monotonic()
        while not stop.is_set():
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
            if threads and not any(t.is_alive() for t in threads):
                break
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
        for timer in timers:
            timer.stop()
            print(f"block timer {timer.chain.rpc_url}: {timer.summary()}", flush=True)
        for sim in sims:
            print(f"chain {sim.chain_id}: {json.dumps(sim.stats.as_dict())}, truth {sim.truth_path}", flush=True)
            sim.close()
        for node in nodes:
            node.stop()
        stop_all()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "compile":
        return cmd_compile()
    if args.command == "deploy":
        return cmd_deploy(args)
    if args.command == "simulate":
        return cmd_simulate(args)
    return cmd_up(args)


if __name__ == "__main__":
    sys.exit(main())
