# ruff: noqa: ASYNC110, ASYNC240  (the client polls marker files on purpose: a benchmark, not served code)
"""Resume benchmark (not a test): N clients dropped at once while events flow, all reconnect and resume.

A uvicorn process serves ``arbmonitor.asgi``; one client process runs N
``streaming.client.StreamClient``s (the shipped client: reconnect with backoff and jitter,
resume with ``since``), each subscribed to ``opportunities`` on chain 56; a publisher process
calls ``broadcast_opportunity`` E times a second for D seconds. At ``--drop-at`` seconds every
client loses its connection at once:

- ``--mode reset``: each client's TCP connection is aborted (a network failure); the server stays.
- ``--mode restart``: the web process gets SIGTERM (a deploy: each client is told and closed with
  1001), and a new one is started on the same port as soon as the old one has exited.

Reported: whether every client ends with exactly seq 1..total (no gap, no duplicate, in order),
how many resumes said ``recovered: false``, and the time from the drop to each client's resumed
``subscribed`` and to its having caught up (received everything published before it
resubscribed): p50 / p99 / max over the clients, plus the CPU of the processes.

    .venv/bin/python bench/ws_resume.py                            # both modes, 1000 clients
    .venv/bin/python bench/ws_resume.py --mode reset --clients 200 --rate 10 --duration 12
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from arbmonitor.embedded_redis import EmbeddedRedis, free_port  # noqa: E402

PUBLISHER = r"""
import json, os, sys, time
rate, duration = float(sys.argv[1]), float(sys.argv[2])
sys.path.insert(0, os.getcwd())
import django
django.setup()
from streaming.broadcast import broadcast_flush, broadcast_opportunity
def data(i):
    return {"id": i, "chain_id": 56, "pool_name": f"P{i}",
            "pool_address": "0x58F876857a02D6762E0101bb5C46A8c1ED44Dc16", "imbalance_pct": 7.82,
            "profit_usd": 100.0, "profit_native": 0.25, "reserve0": 10**21, "reserve1": 2 * 10**21,
            "block_number": 68286234 + i, "detected_at": "2025-11-16T16:54:43.123456Z", "captured": False,
            "captured_by": None, "capture_tx_hash": None}
broadcast_opportunity(dict(data(0), chain_id=1))  # warm up on a group nobody reads
broadcast_flush(60)
n = int(rate * duration)
start = time.monotonic()
print(json.dumps({"started": time.time()}), flush=True)
for i in range(1, n + 1):
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    broadcast_opportunity(data(i))
assert broadcast_flush(60)
print(json.dumps({"events": n}), flush=True)
"""


# --- the client process ----------------------------------------------------------------------------

BACKOFF_FIRST = float(os.environ.get("BENCH_BACKOFF_FIRST", "0.5"))
BACKOFF_MAX = float(os.environ.get("BENCH_BACKOFF_MAX", "20"))


async def client_main(url: str, n: int, out: str) -> None:
    from streaming.client import Notification, StreamClient, Subscribed

    clients = [
        StreamClient(url, backoff_first=BACKOFF_FIRST, backoff_max=BACKOFF_MAX, open_timeout=30.0) for _ in range(n)
    ]
    seqs: list[list[int]] = [[] for _ in range(n)]
    replies: list[list[tuple[float, bool | None, int | None]]] = [[] for _ in range(n)]
    caught_up: list[float | None] = [None] * n
    dropped_at = 0.0

    async def run(index: int) -> None:
        client = clients[index]
        client.subscribe("opportunities", chain_id=56)
        async for message in client.messages():
            if isinstance(message, Notification):
                seqs[index].append(message.seq or 0)
                if dropped_at and caught_up[index] is None and len(replies[index]) > 1:
                    target = replies[index][-1][2] or 0
                    if (message.seq or 0) >= target:
                        caught_up[index] = time.monotonic()
            elif isinstance(message, Subscribed):
                replies[index].append((time.monotonic(), message.recovered, message.seq))
                if dropped_at and caught_up[index] is None and len(replies[index]) > 1:
                    highest = seqs[index][-1] if seqs[index] else 0
                    if highest >= (message.seq or 0):  # nothing was missed meanwhile
                        caught_up[index] = time.monotonic()

    cpu0 = time.process_time()
    tasks = []
    for index in range(n):
        tasks.append(asyncio.create_task(run(index)))
        if index % 50 == 49:
            await asyncio.sleep(0.05)  # a steady start; the reconnection storm is the measurement
    while sum(1 for r in replies if r) < n:
        await asyncio.sleep(0.1)
    Path(out + ".ready").write_text("1")
    while not Path(out + ".drop").exists():
        await asyncio.sleep(0.01)
    dropped_at = time.monotonic()
    if Path(out + ".drop").read_text() == "reset":
        for client in clients:
            client.drop()
    while not Path(out + ".stop").exists():
        await asyncio.sleep(0.1)
    closes = sorted({str(code) for c in clients for code, _ in c.closes})  # before our own close()s
    total = int(Path(out + ".stop").read_text())
    deadline = time.monotonic() + 120
    while any((s[-1] if s else 0) < total for s in seqs) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for client in clients:
        await client.close()
    for task in tasks:
        task.cancel()
    expected = list(range(1, total + 1))
    result = {
        "clients": n,
        "total": total,
        "exact": sum(1 for s in seqs if s == expected),
        "gaps": sum(len(set(expected) - set(s)) for s in seqs),
        "duplicates": sum(len(s) - len(set(s)) for s in seqs),
        "out_of_order": sum(1 for s in seqs if s != sorted(s)),
        "resubscribed": sum(1 for r in replies if len(r) > 1),
        "not_recovered": sum(1 for r in replies for _, recovered, _seq in r[1:] if recovered is False),
        "connections": sum(c.connections for c in clients),
        "closes": closes,
        "cpu_seconds": time.process_time() - cpu0,
        "to_subscribed": sorted(r[-1][0] - dropped_at for r in replies if len(r) > 1),
        "to_caught_up": sorted(t - dropped_at for t in caught_up if t is not None),
        # A few inexact clients, for diagnosis: what they got, what they missed, what their resumes said.
        "inexact_sample": [
            {
                "received": len(s),
                "last": s[-1] if s else None,
                "missing": _ranges(sorted(set(expected) - set(s))),
                "replies": [(recovered, seq) for _t, recovered, seq in replies[i]],
            }
            for i, s in enumerate(seqs)
            if s != expected
        ][:5],
    }
    Path(out).write_text(json.dumps(result))


def _ranges(values: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 8] -> [(1, 3), (7, 8)]."""
    out: list[tuple[int, int]] = []
    for value in values:
        if out and value == out[-1][1] + 1:
            out[-1] = (out[-1][0], value)
        else:
            out.append((value, value))
    return out


# --- the run ---------------------------------------------------------------------------------------


def start_server(env: dict[str, str], port: int, workdir: Path) -> subprocess.Popen[bytes]:
    cmd = [str(BIN / "uvicorn"), "arbmonitor.asgi:application", "--port", str(port), "--no-access-log"]
    log = (workdir / f"uvicorn-{port}-{time.monotonic_ns()}.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(1200):
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited {proc.returncode}")
        try:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("uvicorn did not start")


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    pick = [values[min(len(values) - 1, int(len(values) * q))] for q in (0.5, 0.99)]
    return f"{pick[0]:.2f} / {pick[1]:.2f} / {values[-1]:.2f}"


def run(
    mode: str, clients: int, rate: float, duration: float, drop_at: float, env: dict[str, str], workdir: Path
) -> dict[str, Any]:
    load = os.getloadavg()[0]
    tag = time.monotonic_ns()
    env = dict(env, WS_HISTORY_KEY=f"bench:history:{tag}", WS_LEASE_KEY=f"bench:ws:{tag}")
    port = free_port()
    server = start_server(env, port, workdir)
    out = str(workdir / f"resume-{mode}-{time.monotonic_ns()}.json")
    client = subprocess.Popen(
        [sys.executable, __file__, "--client", f"ws://127.0.0.1:{port}/ws/v1/stream", str(clients), out],
        env=env,
        cwd=ROOT,
    )
    while not Path(out + ".ready").exists():
        if client.poll() is not None:
            raise RuntimeError("client process failed")
        time.sleep(0.2)
    server_ps = psutil.Process(server.pid)
    server_cpu = -sum(server_ps.cpu_times()[:2])
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(rate), str(duration)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert publisher.stdout is not None
    json.loads(publisher.stdout.readline())  # started
    time.sleep(drop_at)
    stopping = starting = None
    if mode == "reset":
        Path(out + ".drop").write_text("reset")
    else:
        Path(out + ".drop").write_text("restart")
        server_cpu += sum(server_ps.cpu_times()[:2])  # (the old process's drain is not counted)
        t0 = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        stopping = time.monotonic() - t0
        server = start_server(env, port, workdir)
        starting = time.monotonic() - t0 - stopping
        server_ps = psutil.Process(server.pid)
        server_cpu -= sum(server_ps.cpu_times()[:2])
    total = json.loads(publisher.stdout.readline())["events"]
    publisher.wait(timeout=60)
    Path(out + ".stop").write_text(str(total))
    client.wait(timeout=600)
    server_cpu += sum(server_ps.cpu_times()[:2])
    server.terminate()
    server.wait(timeout=30)
    result = json.loads(Path(out).read_text())
    return {
        "mode": mode,
        "load": round(load, 1),
        "clients": clients,
        "events/s": rate,
        "events": total,
        "exact": f"{result['exact']}/{clients}",
        "gaps": result["gaps"],
        "dup": result["duplicates"],
        "unordered": result["out_of_order"],
        "not recovered": result["not_recovered"],
        "resubscribed": result["resubscribed"],
        "closes seen": ",".join(result["closes"]),
        "SIGTERM → exited s": None if stopping is None else round(stopping, 2),
        "new server listening s": None if starting is None else round(starting, 2),
        "drop → subscribed s (p50/p99/max)": percentiles(result["to_subscribed"]),
        "drop → caught up s (p50/p99/max)": percentiles(result["to_caught_up"]),
        "server CPU s": round(server_cpu, 1),
        "client CPU s": round(result["cpu_seconds"], 1),
        "inexact sample": result["inexact_sample"],
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(client_main(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["reset", "restart"], action="append")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of publishing")
    parser.add_argument("--drop-at", type=float, default=6.0, help="seconds into publishing")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ws-resume-"))
    with EmbeddedRedis() as redis:
        env = dict(
            os.environ,
            REDIS_URL=redis.url,
            DJANGO_SETTINGS_MODULE="arbmonitor.settings",
            SECRET_KEY="bench",
            ALLOWED_HOSTS="*",
            DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
            WS_MAX_CONNECTIONS="20000",
            WS_MAX_CONNECTIONS_PER_IP="0",  # every client comes from 127.0.0.1
            LOG_LEVEL=os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING"),
        )
        code = (
            "import django; django.setup(); from django.core.management import call_command; "
            "call_command('migrate', verbosity=0); from chains.models import Chain; "
            "Chain.objects.get_or_create(chain_id=56, defaults=dict(name='BSC', native_symbol='BNB', block_time=0.45))"
        )
        subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
        rows = []
        for mode in args.mode or ["reset", "restart"]:
            row = run(mode, args.clients, args.rate, args.duration, args.drop_at, env, workdir)
            rows.append(row)
            print(json.dumps(row), flush=True)
        keys = [key for key in rows[0] if key != "inexact sample"]
        print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for row in rows:
            print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
