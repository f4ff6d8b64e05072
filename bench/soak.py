"""Soak: `make run`'s stack for a long time, many WebSocket clients, a faulty node in front of both chains.

Starts the fault-injecting JSON-RPC proxy (``tests/chains/faulty_rpc.py``, mode ``mixed``: refused and
reset connections, stalls, 429, 502, -32005, garbage and truncated bodies, stale heads, each request
faulted with probability ``--fault-rate``) in front of each devnet chain, points the scanners at it
(``CHAIN_<id>_RPC_URLS``), and starts ``python -m arbmonitor.run`` (devnet, web, worker, alerts, beat,
head watcher) on free ports. Then ``--clients`` WebSocket clients subscribe to both channels without
filters and listen for ``--duration`` seconds while the resident memory of every process of the stack
is sampled every ``--sample-seconds``.

At the end it checks, against the database:

- **lost**: rows committed after every client had subscribed (ids above the first snapshot, up to the
  last) that a client did not receive — per client, summed;
- **duplicated**: notifications a client received more than once (same kind and id);
- **leaked slots**: connection leases left in Redis after every client closed (must be 0).

    .venv/bin/python bench/soak.py --duration 1800 --clients 200 \
        --database-url postgres://postgres@127.0.0.1:5432/arb_faults --redis-url redis://127.0.0.1:6379/13

Results go to stdout and ``--out`` (JSON); the figures are kept in bench/RESULTS-soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil
import redis
import requests
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arbmonitor.embedded_redis import free_port  # noqa: E402
from tests.chains.faulty_rpc import FaultyRpc  # noqa: E402

STARTUP_TIMEOUT = 300.0
KINDS = {"opportunity": "opportunities.models.Opportunity", "transaction": "transactions.models.ArbitrageTransaction"}


# --- the faulty node, in a process of its own (the clients' event loop must not share a GIL with it) ---------


def _proxy_main(upstream: str, fault_rate: float, seed: int, pipe: Connection) -> None:
    proxy = FaultyRpc(upstream).start()
    proxy.rng.seed(seed)
    proxy.set("mixed", fail_rate=fault_rate, delay=1.0, retry_after="1", stale_blocks=2)
    pipe.send(proxy.url)
    pipe.recv()  # until told to stop
    pipe.send(proxy.counts())
    proxy.stop()


class Proxy:
    def __init__(self, upstream: str, fault_rate: float, seed: int) -> None:
        self._pipe, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(
            target=_proxy_main, args=(upstream, fault_rate, seed, child), daemon=True
        )
        self._process.start()
        self.url: str = self._pipe.recv()

    def stop(self) -> dict[str, Any]:
        self._pipe.send("stop")
        counts: dict[str, Any] = self._pipe.recv()
        self._process.join(10)
        return counts


# --- the stack ------------------------------------------------------------------------------------------------


def _manage(env: dict[str, str], code: str) -> Any:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def _max_ids(env: dict[str, str]) -> dict[str, int]:
    code = "import json; from django.db.models import Max; from django.apps import apps; print(json.dumps({"
    code += ", ".join(
        f"{kind!r}: apps.get_model({path.split('.')[0]!r}, {path.split('.')[-1]!r})"
        ".objects.aggregate(m=Max('pk'))['m'] or 0"
        for kind, path in KINDS.items()
    )
    return dict(_manage(env, code + "}))"))


def _ids_between(env: dict[str, str], low: dict[str, int], high: dict[str, int]) -> dict[str, list[int]]:
    code = "import json; from django.apps import apps; print(json.dumps({"
    code += ", ".join(
        f"{kind!r}: list(apps.get_model({path.split('.')[0]!r}, {path.split('.')[-1]!r}).objects"
        f".filter(pk__gt={low[kind]}, pk__lte={high[kind]}).values_list('pk', flat=True))"
        for kind, path in KINDS.items()
    )
    return dict(_manage(env, code + "}))"))


def _label(process: psutil.Process, root_pid: int) -> str:
    try:
        name, cmd = process.name(), " ".join(process.cmdline())
    except psutil.Error:
        return "gone"
    if name in ("sh", "bash"):
        return name  # honcho's `sh -c` wrappers
    if process.pid == root_pid:
        return "launcher"
    for needle, label in (
        ("anvil", "anvil"),
        ("devnet up", "devnet+simulator"),
        ("uvicorn", "web"),
        ("daphne", "web"),
        ("-Q alerts", "alerts"),
        (" worker ", "worker"),
        (" beat ", "beat"),
        ("watch_heads", "heads"),
        ("arbmonitor.run", "honcho-child"),
        ("redis-server", "redis"),
    ):
        if needle in cmd:
            return label
    return process.name()


def rss_sample(root: psutil.Process) -> dict[str, float]:
    """MiB per process of the stack, labelled by role (a Celery parent and its children: worker#0, #1…)."""
    sample: dict[str, float] = {}
    seen: Counter[str] = Counter()
    for process in sorted([root, *root.children(recursive=True)], key=lambda p: p.pid):
        try:
            rss = process.memory_info().rss / 2**20
        except psutil.Error:
            continue
        label = _label(process, root.pid)
        if label in ("sh", "bash", "node") or label == "gone":
            continue
        key = f"{label}#{seen[label]}"
        seen[label] += 1
        sample[key] = round(rss, 1)
    return sample


# --- the clients ----------------------------------------------------------------------------------------------


class Listener:
    """One WebSocket client subscribed to both channels, counting what it receives by (kind, id)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: Counter[tuple[str, int]] = Counter()
        self.other: Counter[str] = Counter()
        self.errors: list[str] = []
        self.disconnects = 0
        self.subscribed = asyncio.Event()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                async with websockets.connect(self.url, max_queue=None, open_timeout=60) as ws:
                    await self._listen(ws)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                if self.stop.is_set():
                    return
                self.disconnects += 1
                self.errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1)

    async def _listen(self, ws: Any) -> None:
        for channel in ("opportunities", "transactions"):
            await ws.send(json.dumps({"type": "subscribe", "channel": channel, "filters": {}}))
        subscribed = 0
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if receiving not in done:
                    receiving.cancel()
                    return
                message = json.loads(receiving.result())
                kind = message.get("type")
                if kind in KINDS:
                    self.received[(kind, int(message["data"]["id"]))] += 1
                    continue
                self.other[str(kind)] += 1
                if kind == "subscribed":
                    subscribed += 1
                    if subscribed == 2:
                        self.subscribed.set()
                elif kind in ("error", "notice"):
                    self.errors.append(str(message.get("message")))
        finally:
            stopping.cancel()


async def _listen_all(
    ws_url: str, clients: int, duration: float, sample: Any, sample_seconds: float, snapshot: Any
) -> tuple[list[Listener], dict[str, Any]]:
    listeners = [Listener(ws_url) for _ in range(clients)]
    tasks = []
    for listener in listeners:  # a steady ramp, as clients arrive in life
        tasks.append(asyncio.create_task(listener.run()))
        await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*(listener.subscribed.wait() for listener in listeners)), 300)
    await asyncio.sleep(2)
    marks: dict[str, Any] = {"subscribed_at": time.time()}
    marks["first"] = await asyncio.to_thread(snapshot)
    started = time.monotonic()
    marks["samples"] = []
    while (left := duration - (time.monotonic() - started)) > 0:
        marks["samples"].append(await asyncio.to_thread(sample))
        await asyncio.sleep(min(sample_seconds, left))
    marks["samples"].append(await asyncio.to_thread(sample))
    marks["last"] = await asyncio.to_thread(snapshot)
    await asyncio.sleep(15)  # what was committed up to the last snapshot is on its way
    for listener in listeners:
        listener.stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return listeners, marks


# --- main -----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of listening (default 30 min)")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.25, help="share of RPC requests faulted")
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    parser.add_argument("--database-url", default="", help="default: a scratch SQLite file")
    parser.add_argument("--redis-url", default="", help="default: the launcher's embedded Redis")
    parser.add_argument("--out", default="", help="write the results here as JSON")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="arbmonitor-soak-"))
    var_dir = workdir / "var"
    port, port_56, port_137 = free_port(), free_port(), free_port()
    proxies = {
        56: Proxy(f"http://127.0.0.1:{port_56}", args.fault_rate, seed=56),
        137: Proxy(f"http://127.0.0.1:{port_137}", args.fault_rate, seed=137),
    }
    redis_url = args.redis_url or f"redis://127.0.0.1:{free_port()}/0"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
    env.update(
        ARBMONITOR_VAR_DIR=str(var_dir),
        DATABASE_URL=args.database_url or f"sqlite:///{workdir / 'soak.sqlite3'}",
        DEBUG="1",
        DEVNET_ARGS="--seed 11",
        WS_MAX_CONNECTIONS=str(args.clients * 2),
        CHAIN_56_RPC_URLS=proxies[56].url,
        CHAIN_137_RPC_URLS=proxies[137].url,
    )
    embedded = None
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
        redis.Redis.from_url(args.redis_url).flushdb()  # this soak's own Redis database, from empty
    else:
        from arbmonitor.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis().start()
        env["REDIS_URL"] = redis_url = embedded.url
    log_path = workdir / "run.log"
    print(f"soak: workdir {workdir}, web port {port}, proxies {proxies[56].url} {proxies[137].url}", flush=True)
    with log_path.open("wb") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "arbmonitor.run", "--port", str(port), "--devnet-ports", f"{port_56},{port_137}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    result: dict[str, Any] = {
        "clients": args.clients,
        "duration_s": args.duration,
        "fault_rate": args.fault_rate,
        "database": env["DATABASE_URL"].split(":")[0],
        "load_start": os.getloadavg(),
    }
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if stack.poll() is not None:
                raise RuntimeError(f"the stack exited:\n{log_path.read_text(errors='replace')[-3000:]}")
            text = log_path.read_text(errors="replace")
            with contextlib.suppress(requests.RequestException):
                if ("chain 56 (" in text and "chain 137 (" in text and " ready." in text) and requests.get(
                    f"http://127.0.0.1:{port}/healthz", timeout=2
                ).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not come up:\n{text[-3000:]}")
            time.sleep(1)
        print("soak: stack up; connecting clients", flush=True)
        root = psutil.Process(stack.pid)
        samples_at: list[float] = []

        def sample() -> dict[str, float]:
            samples_at.append(time.time())
            figures = rss_sample(root)
            print(f"soak: {time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f} rss {figures}", flush=True)
            return figures

        listeners, marks = asyncio.run(
            _listen_all(
                f"ws://127.0.0.1:{port}/ws/v1/stream", args.clients, args.duration, sample, args.sample_seconds,
                lambda: _max_ids(env),
            )
        )  # fmt: skip
        result["load_end"] = os.getloadavg()
        # Slots: every client closed; the web process gives the leases back on disconnect.
        leases = redis.Redis.from_url(redis_url)
        left = -1
        for _ in range(30):
            now_s, now_us = leases.time()
            left = int(leases.zcount("arbmonitor:ws:connections", f"({now_s + now_us / 1e6}", "+inf"))
            if left == 0:
                break
            time.sleep(1)
        result["leases_left"] = left
        expected = _ids_between(env, marks["first"], marks["last"])
        result["rows_in_window"] = {kind: len(ids) for kind, ids in expected.items()}
        lost = duplicated = 0
        per_client_received = []
        for listener in listeners:
            duplicated += sum(n - 1 for n in listener.received.values() if n > 1)
            got = {key for key in listener.received}
            lost += sum(1 for kind, ids in expected.items() for pk in ids if (kind, pk) not in got)
            per_client_received.append(sum(listener.received.values()))
        result.update(
            lost=lost,
            duplicated=duplicated,
            notifications_received=sum(per_client_received),
            per_client_received={"min": min(per_client_received), "max": max(per_client_received)},
            disconnects=sum(listener.disconnects for listener in listeners),
            client_errors=Counter(e for listener in listeners for e in listener.errors).most_common(10),
            other_messages=dict(sum((listener.other for listener in listeners), Counter())),
        )
        series: dict[str, list[float]] = defaultdict(list)
        for figures in marks["samples"]:
            for key, mib in figures.items():
                series[key].append(mib)
        result["rss_mib"] = {
            key: {
                "first": values[0],
                "after_5min": values[min(len(values) - 1, max(1, round(300 / args.sample_seconds)))],
                "last": values[-1],
                "max": max(values),
                "median": statistics.median(values),
                "samples": len(values),
            }
            for key, values in sorted(series.items())
        }
    finally:
        if stack.poll() is None:
            stack.send_signal(signal.SIGINT)
            try:
                stack.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
                stack.wait()
        result["rpc_faults"] = {str(chain): proxy.stop() for chain, proxy in proxies.items()}
        if embedded is not None:
            embedded.stop()
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    ok = result.get("lost") == 0 and result.get("duplicated") == 0 and result.get("leases_left") == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
