"""Block → WebSocket client latency of the whole stack, with and without the head watcher.

For each mode it starts the real stack (``python -m arbmonitor.run --devnet-ports 0,0``, its
own var/ directory, SQLite database and embedded Redis; HEADWATCH_ENABLED=1 or 0), waits
until the worker loaded the registry and the first scans caught up, then for ``--duration``
seconds:

- a WebSocket client subscribed to ``opportunities`` and ``transactions`` (no filters)
  timestamps every notification on receipt;
- one thread per chain polls ``eth_blockNumber`` every 20 ms and timestamps when each
  block number first appears ("head seen"), and reads that block's timestamp.

Reported per chain and kind (p50 / p99 / max, seconds): block timestamp → receipt (what a
user sees; anvil's timestamps are whole seconds, so this carries up to 1 s of rounding) and
head seen → receipt (the pipeline alone: trigger, queue, scan, commit, fan-out).

    .venv/bin/python bench/latency.py                      # both modes, 60 s each
    .venv/bin/python bench/latency.py --modes on --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arbmonitor.embedded_redis import free_port  # noqa: E402
from evm.rpc import ChainClient, RpcError  # noqa: E402

STARTUP_TIMEOUT = 240.0


class HeadClock:
    """Polls one chain's head every 20 ms; remembers when each block number first appeared and its timestamp."""

    def __init__(self, chain_id: int, url: str) -> None:
        # The project's JSON-RPC client; no retries: a failed poll is simply the next poll, 20 ms later.
        self.client = ChainClient(chain_id=chain_id, rpc_urls=(url,), timeout=5, max_retries=0, log_failures=False)
        self.seen: dict[int, float] = {}
        self.timestamp: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        last: int | None = None
        while not self.stop.is_set():
            try:
                head = self.client.block_number()
                now = time.time()
                if last is None:
                    last = head
                    self.seen[head] = float("nan")  # already there when we started: unknown
                for number in range(last + 1, head + 1):
                    self.seen[number] = now
                    self.timestamp[number] = self.client.get_block_header(number).timestamp
                last = max(last, head)
            except RpcError:
                pass
            self.stop.wait(0.02)


def start_stack(tmp: Path, headwatch: bool, beat_interval: str) -> tuple[subprocess.Popen[bytes], str, str, Path, Path]:
    var_dir = tmp / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
    env.pop("REDIS_URL", None)  # the launcher's own embedded Redis
    env.pop("SECRET_KEY", None)
    env.update(
        ARBMONITOR_VAR_DIR=str(var_dir),
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
        DEBUG="1",
        OPPORTUNITY_MIN_PROFIT_USD="0.01",
        DEVNET_ARGS="--seed 11",
        HEADWATCH_ENABLED="1" if headwatch else "0",
        SCAN_BEAT_INTERVAL_SECONDS=beat_interval,
    )
    log_path = tmp / "run.out"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "arbmonitor.run", "--port", str(port), "--devnet-ports", "0,0"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    web = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the stack exited:\n{log_path.read_text(errors='replace')[-4000:]}")
        text = log_path.read_text(errors="replace")
        try:
            if "chain 56 (" in text and "chain 137 (" in text and requests.get(web + "/healthz", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            stop_stack(process)
            raise RuntimeError(f"the stack did not come up:\n{text[-4000:]}")
        time.sleep(1)
    return process, web, f"ws://127.0.0.1:{port}/ws/v1/stream", var_dir, log_path


def stop_stack(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def collect(ws_url: str, seconds: float) -> list[tuple[str, int, int, float]]:
    """(kind, chain_id, block_number, received wall time) of every notification for ``seconds``."""
    got: list[tuple[str, int, int, float]] = []
    async with websockets.connect(ws_url, max_size=2**22) as ws:
        await ws.recv()  # connected
        for channel in ("opportunities", "transactions"):
            await ws.send(json.dumps({"type": "subscribe", "channel": channel, "filters": {}}))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(end - time.monotonic(), 0.05))
            except TimeoutError:
                break
            now = time.time()
            message = json.loads(raw)
            if message["type"] in ("opportunity", "transaction"):
                data = message["data"]
                got.append((message["type"], int(data["chain_id"]), int(data["block_number"]), now))
    return got


def quantiles(values: list[float]) -> str:
    if not values:
        return "– | – | – | 0"
    values = sorted(values)
    p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
    return f"{statistics.median(values):.3f} | {p99:.3f} | {values[-1]:.3f} | {len(values)}"


def run_mode(headwatch: bool, duration: float, warmup: float, beat_interval: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="arbmonitor-latency-") as tmp_name:
        tmp = Path(tmp_name)
        process, _web, ws_url, var_dir, log_path = start_stack(tmp, headwatch, beat_interval)
        try:
            clocks: dict[int, HeadClock] = {}
            for chain_id in (56, 137):
                manifest = json.loads((var_dir / "devnet" / f"chain-{chain_id}.json").read_text())
                clocks[chain_id] = HeadClock(chain_id, manifest["rpc_urls"][0])
                clocks[chain_id].thread.start()
            time.sleep(warmup)  # the first scans catch up from the deployment block
            started = time.time()
            got = asyncio.run(collect(ws_url, duration))
            for clock in clocks.values():
                clock.stop.set()
            log_text = log_path.read_text(errors="replace")
        finally:
            stop_stack(process)
    rows: dict[tuple[int, str], dict[str, list[float]]] = defaultdict(lambda: {"ts": [], "seen": []})
    first: dict[tuple[str, int, int], float] = {}
    for kind, chain_id, number, received in got:
        first.setdefault((kind, chain_id, number), received)  # a block's first notification of each kind
    for (kind, chain_id, number), received in first.items():
        clock = clocks[chain_id]
        seen = clock.seen.get(number)
        if seen is None or seen != seen or seen < started:  # unknown or before the window: catch-up, not live
            continue
        rows[(chain_id, kind)]["seen"].append(received - seen)
        if number in clock.timestamp:
            rows[(chain_id, kind)]["ts"].append(received - clock.timestamp[number])
    enqueue = re.findall(r"enqueue p50 ([\d.]+) ms, max ([\d.]+) ms", log_text)
    retriggers = len(re.findall(r"re-triggering", log_text))
    lags = scan_lags(log_text, started, started + duration)
    return {"rows": rows, "notifications": len(got), "enqueue": enqueue, "retriggers": retriggers, "lags": lags}


SCAN_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})[^\n]*?chain (\d+)/(\w+): "
    r"blocks (\d+)-(\d+), \d+ logs, head \d+, lag (\d+)"
)


def scan_lags(log_text: str, start: float, end: float) -> dict[tuple[int, str], dict[str, list[int]]]:
    """Per (chain, scan kind), over the measured window: each run's lag (head minus the last block
    it scanned, from the scanner's own log line) and how many blocks it covered."""
    out: dict[tuple[int, str], dict[str, list[int]]] = defaultdict(lambda: {"lag": [], "blocks": []})
    for m in SCAN_LINE.finditer(log_text):
        stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(m.group(2)) / 1000
        if not start <= stamp <= end:
            continue
        key = (int(m.group(3)), m.group(4))
        out[key]["lag"].append(int(m.group(7)))
        out[key]["blocks"].append(int(m.group(6)) - int(m.group(5)) + 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--modes", default="on,off", help="on (head watcher), off (beat only), comma-separated")
    parser.add_argument(
        "--beat-interval", default="0", help="SCAN_BEAT_INTERVAL_SECONDS with the watcher on (0 = block time)"
    )
    args = parser.parse_args(argv)
    print(f"# block → client latency, {args.duration:.0f} s per mode, {datetime.now().isoformat(timespec='seconds')}")
    for mode in args.modes.split(","):
        beat = args.beat_interval if mode == "on" else "0"
        result = run_mode(mode == "on", args.duration, args.warmup, beat)
        beat_text = "every block" if beat in ("", "0") else f"every {beat} s"
        title = f"head watcher + beat {beat_text}" if mode == "on" else "beat only, every block (HEADWATCH_ENABLED=0)"
        print(f"\n## {title}: {result['notifications']} notifications")
        print(
            "\n| chain | kind | measure | p50 s | p99 s | max s | blocks |\n| --- | --- | --- | --- | --- | --- | --- |"
        )
        for (chain_id, kind), values in sorted(result["rows"].items()):
            print(f"| {chain_id} | {kind} | block timestamp → receipt | {quantiles(values['ts'])} |")
            print(f"| {chain_id} | {kind} | head seen → receipt | {quantiles(values['seen'])} |")
        print("\n| chain | scan | runs | lag 0 | lag max | blocks per run p50 / max |")
        print("| --- | --- | --- | --- | --- | --- |")
        for (chain_id, kind), lag in sorted(result["lags"].items()):
            blocks = sorted(lag["blocks"])
            print(
                f"| {chain_id} | {kind} | {len(lag['lag'])} | {sum(x == 0 for x in lag['lag'])} | {max(lag['lag'])} "
                f"| {statistics.median(blocks):.0f} / {blocks[-1]} |"
            )
        if mode == "on":
            print(f"\nwatcher enqueue cost (per-minute log lines, p50/max ms): {result['enqueue']}")
            print(f"follow-up re-triggers logged: {result['retriggers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
