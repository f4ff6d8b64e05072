# ruff: noqa: ASYNC110, ASYNC240  (the client polls marker files on purpose: a benchmark, not served code)
"""WebSocket fan-out benchmark (not a test): real server processes, light clients, a separate publisher.

For each case it starts the server (uvicorn or daphne serving arbmonitor.asgi, or a
minimal raw ``websockets`` broadcast server fed by Redis pub/sub as the ceiling),
opens N clients in a client process (a hand-rolled frame reader, so the client is
not the bottleneck) with a mix of four filters, publishes E events/s for D seconds
from another process through ``streaming.broadcast`` (raw: a reused redis-py
connection), and reports delivered/s, latency from the broadcast call to receipt
(p50/p99/max), server CPU per delivered message, server RSS, publisher cost per
call, and lost / duplicated / wrongly filtered messages.

    .venv/bin/python bench/ws_fanout.py                 # the recorded matrix
    .venv/bin/python bench/ws_fanout.py --case uvicorn:1000:10 --duration 10
    .venv/bin/python bench/ws_fanout.py --case scaling:daphne:1000:15 --duration 12 --repeat 2 --cpu-cap 0.3
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from arbmonitor.embedded_redis import EmbeddedRedis, free_port  # noqa: E402

FILTERS: list[dict[str, Any]] = [{}, {"chain_id": 56}, {"min_profit": 500.0}, {"chain_id": 137, "max_profit": 300.0}]
RAW_CHANNEL = "bench:raw"


def event_fields(i: int) -> tuple[int, float]:
    return (56 if i % 2 else 137), float((i * 37) % 1000)


def matches(flt: dict[str, Any], chain_id: int, profit: float) -> bool:
    return (
        flt.get("chain_id", chain_id) == chain_id
        and profit >= flt.get("min_profit", -1e18)
        and profit <= flt.get("max_profit", 1e18)
    )


# --- raw ceiling server ---------------------------------------------------------------

RAW_SERVER = r"""
import asyncio, json, sys
import redis.asyncio as aioredis
from websockets.asyncio.server import serve
clients = {}
async def handler(ws):
    msg = json.loads(await ws.recv())
    clients[ws] = msg.get("filters", {})
    try:
        await ws.wait_closed()
    finally:
        clients.pop(ws, None)
def ok(f, c, p):
    return f.get("chain_id", c) == c and p >= f.get("min_profit", -1e18) and p <= f.get("max_profit", 1e18)
async def pump(url):
    r = aioredis.Redis.from_url(url)
    ps = r.pubsub()
    await ps.subscribe("bench:raw")
    async for m in ps.listen():
        if m["type"] != "message":
            continue
        c, p, text = m["data"].split(b"|", 2)
        c, p, text = int(c), float(p), text.decode()
        for ws, f in list(clients.items()):
            if ok(f, c, p):
                try:
                    await ws.send(text)
                except Exception:
                    pass
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None, max_queue=None):
        await pump(sys.argv[2])
asyncio.run(main())
"""

# --- publisher ---------------------------------------------------------------------------

PUBLISHER = r"""
import json, os, sys, time
kind, rate, duration, redis_url = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sys.path.insert(0, os.getcwd())
def fields(i):
    return (56 if i % 2 else 137), float((i * 37) % 1000)
def data(i):
    c, p = fields(i)
    return {"id": i, "chain_id": c, "pool_name": "WBNB-BUSD",
            "pool_address": "0x58F876857a02D6762E0101bb5C46A8c1ED44Dc16",
            "imbalance_pct": 7.82, "profit_usd": p, "profit_native": 150.25, "reserve0": 10**21, "reserve1": 2 * 10**21,
            "block_number": 68286234 + i, "detected_at": "2025-11-16T16:54:43.123456Z", "captured": False,
            "captured_by": None, "capture_tx_hash": None}
if kind == "raw":
    import redis
    from arbmonitor.timeutil import utc_now_isoformat
    r = redis.Redis.from_url(redis_url)
    def send(i):
        c, p = fields(i)
        text = json.dumps({"type": "opportunity", "timestamp": utc_now_isoformat(), "data": data(i)})
        r.publish("bench:raw", f"{c}|{p}|{text}")
else:
    import django
    django.setup()
    from streaming.broadcast import broadcast_flush, broadcast_opportunity
    send = lambda i: broadcast_opportunity(data(i))
if kind != "raw":  # warm up: thread, loop, Redis connection (chain 1 has no subscribers)
    broadcast_opportunity(dict(data(0), chain_id=1))
    broadcast_flush(60)
n = int(rate * duration)
calls = []
cpu0 = time.process_time()
start = time.monotonic()
for i in range(n):
    target = start + i / rate
    delay = target - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    t0 = time.perf_counter()
    send(i)
    calls.append(time.perf_counter() - t0)
if kind != "raw":
    broadcast_flush(60)
cpu = time.process_time() - cpu0
calls.sort()
print(json.dumps({"events": n, "call_p50_ms": calls[len(calls) // 2] * 1e3, "call_max_ms": calls[-1] * 1e3,
                  "cpu_per_event_ms": cpu / n * 1e3}))
"""

# --- light client --------------------------------------------------------------------


class FrameReader(asyncio.Protocol):
    """Reads unmasked server text frames; records (receipt time, message)."""

    def __init__(self, sink: list[tuple[float, bytes]], handshake: asyncio.Future[None]) -> None:
        self.buf = b""
        self.sink = sink
        self.handshake = handshake
        self.closed_code: int | None = None

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.handshake.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in self.buf[:end]:
                self.handshake.set_exception(RuntimeError(self.buf[:end].decode(errors="replace")))
                return
            self.buf = self.buf[end + 4 :]
            self.handshake.set_result(None)
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 2:
            b1 = buf[pos + 1] & 0x7F
            head = 2
            if b1 == 126:
                if len(buf) - pos < 4:
                    break
                b1 = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif b1 == 127:
                if len(buf) - pos < 10:
                    break
                b1 = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if len(buf) - pos < head + b1:
                break
            opcode = buf[pos] & 0x0F
            payload = buf[pos + head : pos + head + b1]
            if opcode == 1:
                self.sink.append((now, payload))
            elif opcode == 8:
                self.closed_code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
            pos += head + b1
        self.buf = buf[pos:]


def masked_text(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


async def client_main(ports: list[int], n: int, seconds: float, out: str, drain_max: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    sinks: list[list[tuple[float, bytes]]] = []
    protos: list[FrameReader] = []
    for k in range(n):
        # blocks of len(FILTERS) clients per port: every server process gets the same filter mix, the same load
        port = ports[(k // len(FILTERS)) % len(ports)]
        sink: list[tuple[float, bytes]] = []
        handshake: asyncio.Future[None] = loop.create_future()
        transport, proto = await loop.create_connection(
            lambda sink=sink, handshake=handshake: FrameReader(sink, handshake), "127.0.0.1", port
        )
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /ws/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n\r\n"
            ).encode()
        )
        await asyncio.wait_for(handshake, 60)
        sub = {"type": "subscribe", "channel": "opportunities", "filters": FILTERS[k % len(FILTERS)]}
        transport.write(masked_text(json.dumps(sub)))
        sinks.append(sink)
        protos.append(proto)
    # wait for every "subscribed" (raw server: no reply; give it a moment)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(any(b"subscribed" in m for _, m in s) for s in sinks):
        if "raw" in out:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    Path(out + ".ready").write_text("ok")
    while not Path(out + ".stop").exists():
        await asyncio.sleep(0.2)
    if drain_max:  # drain: wait until nothing arrives for `seconds`, so what is missing is really lost
        deadline = time.monotonic() + drain_max
        count = -1
        while time.monotonic() < deadline and count != (count := sum(map(len, sinks))):
            await asyncio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)
    result = []
    for k, sink in enumerate(sinks):
        result.append(
            {
                "filter": k % len(FILTERS),
                "closed": protos[k].closed_code,
                "messages": [
                    (t, m.decode()) for t, m in sink if m.startswith(b'{"type": "opportunity"') or b'"error"' in m[:20]
                ],
            }
        )
    Path(out).write_text(json.dumps(result))


# --- orchestration -------------------------------------------------------------------------


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


CGROUP_CPU = Path("/sys/fs/cgroup/cpu")  # cgroup v1 cpu controller (needs root)


def cap_cpu(pid: int, cores: float) -> Path:
    """Put one server process in its own cgroup limited to `cores` of CPU (CFS quota): a core of its own, scaled."""
    group = CGROUP_CPU / f"ws-bench-{pid}"
    group.mkdir()
    (group / "cpu.cfs_period_us").write_text("100000")
    (group / "cpu.cfs_quota_us").write_text(str(int(cores * 100000)))
    (group / "cgroup.procs").write_text(str(pid))
    return group


def start_server(kind: str, env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if kind == "raw":
        cmd = [sys.executable, "-c", RAW_SERVER, str(port), env["REDIS_URL"]]
    elif kind == "uvicorn":
        cmd = [
            str(BIN / "uvicorn"),
            "arbmonitor.asgi:application",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    else:
        cmd = [str(BIN / "daphne"), "-p", str(port), "-v", "0", "arbmonitor.asgi:application"]
    log = (workdir / f"{kind}-{port}.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, proc)
    return proc, port


def cpu_of(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


class Sampler(threading.Thread):
    """Every 0.25 s: wall time, each server process's CPU, the client's CPU, the machine's idle time."""

    def __init__(self, servers: list[psutil.Process], client: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.servers, self.client = servers, client
        self.samples: list[tuple[float, list[float], float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            try:
                sample = ([cpu_of(p) for p in self.servers], cpu_of(self.client), psutil.cpu_times().idle)
            except psutil.Error:
                return
            self.samples.append((time.time(), *sample))

    def window(self, start: float, end: float) -> dict[str, Any]:
        """Cores used per server process and by the client, and the machine's busy share, over [start, end]."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return {}
        (t0, srv0, cli0, idle0), (t1, srv1, cli1, idle1) = inside[0], inside[-1]
        span = t1 - t0
        return {
            "server_cores": [round((b - a) / span, 2) for a, b in zip(srv0, srv1, strict=True)],
            "client_cores": round((cli1 - cli0) / span, 2),
            "machine_busy_pct": round(100 * (1 - (idle1 - idle0) / (span * (psutil.cpu_count() or 1))), 1),
        }


def run_case(
    kind: str,
    n: int,
    rate: float,
    duration: float,
    env: dict[str, str],
    workdir: Path,
    processes: int = 1,
    scaling: bool = False,
    cpu_cap: float = 0.0,
) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    servers = [start_server(kind, env, workdir) for _ in range(processes)]
    groups = [cap_cpu(proc.pid, cpu_cap) for proc, _ in servers] if cpu_cap else []
    ports = [port for _, port in servers]
    out = str(workdir / f"clients-{kind}-{n}-{rate}-{processes}-{time.monotonic_ns()}.json")
    # scaling: the client drains until 2 s pass with nothing new (at most 120 s), so "lost" is real loss
    client_args = ["2", out, "120"] if scaling else ["3", out]
    client = subprocess.Popen(
        [sys.executable, __file__, "--client", ",".join(map(str, ports)), str(n), *client_args], env=env, cwd=ROOT
    )
    while not Path(out + ".ready").exists():
        if client.poll() is not None:
            raise RuntimeError("client process failed")
        time.sleep(0.2)
    procs = [psutil.Process(p.pid) for p, _ in servers]
    sampler = Sampler(procs, psutil.Process(client.pid))
    sampler.start()
    cpu0 = sum(cpu_of(p) for p in procs)
    pub = subprocess.run(
        [
            sys.executable,
            "-c",
            PUBLISHER,
            "raw" if kind == "raw" else "channels",
            str(rate),
            str(duration),
            env["REDIS_URL"],
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if pub.returncode:
        raise RuntimeError(pub.stderr)
    published = json.loads(pub.stdout.strip().splitlines()[-1])
    Path(out + ".stop").write_text("1")
    client.wait(timeout=600)
    cpu = sum(cpu_of(p) for p in procs) - cpu0
    sampler.done.set()
    rss = sum(p.memory_info().rss for p in procs) / 2**20
    for proc, _ in servers:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for group in groups:
        group.rmdir()
    results = json.loads(Path(out).read_text())
    total = published["events"]
    delivered = lost = dup = wrong = lagging = 0
    latencies: list[float] = []
    last_receipt = 0.0
    first_ts = None
    for client_result in results:
        flt = FILTERS[client_result["filter"]]
        expected = {i for i in range(total) if matches(flt, *event_fields(i))}
        seen: set[int] = set()
        for t, text in client_result["messages"]:
            msg = json.loads(text)
            if msg["type"] == "error":
                lagging += 1
                continue
            i = msg["data"]["id"]
            sent = datetime.fromisoformat(msg["timestamp"].replace("Z", "+00:00")).timestamp()
            first_ts = sent if first_ts is None else min(first_ts, sent)
            latencies.append(t - sent)
            last_receipt = max(last_receipt, t)
            if i in seen:
                dup += 1
            elif i not in expected:
                wrong += 1
            seen.add(i)
            delivered += 1
        if not (client_result["closed"] and lagging):
            lost += len(expected - seen)
    latencies.sort()
    span = max(duration, (last_receipt - first_ts) if first_ts else duration)
    if scaling:
        # sustained rate: receipts between 2 s after the first event and the end of publishing
        start = (first_ts or 0.0) + 2.0
        end = (first_ts or 0.0) + duration
        sustained = sum(
            1
            for r in results
            for t, text in r["messages"]
            if start <= t <= end and text.startswith('{"type": "opportunity"')
        )
        return {
            "server": kind if processes == 1 else f"{kind}×{processes}",
            "cpu_cap_per_process": cpu_cap or None,
            "clients": n,
            "events_per_s": rate,
            "load1_before": round(load_before, 2),
            "offered_per_s": round(
                sum(len([i for i in range(total) if matches(FILTERS[k % 4], *event_fields(i))]) for k in range(n))
                / duration
            ),
            "sustained_per_s": round(sustained / (end - start)),
            "delivered_per_s": round(delivered / span),
            "drain_s": round(last_receipt - end, 1) if first_ts else None,
            "p50_ms": round(latencies[len(latencies) // 2] * 1e3, 1) if latencies else None,
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1e3, 1) if latencies else None,
            "cpu_us_per_msg": round(cpu / max(delivered, 1) * 1e6, 1),
            **sampler.window(start, end),
            "lost": lost,
            "duplicated": dup,
            "wrong": wrong,
            "lagging_errors": lagging,
        }
    return {
        "server": kind if processes == 1 else f"{kind}×{processes}",
        "clients": n,
        "events_per_s": rate,
        "offered_per_s": round(
            sum(len([i for i in range(total) if matches(FILTERS[k % 4], *event_fields(i))]) for k in range(n))
            / duration
        ),
        "delivered_per_s": round(delivered / span),
        "p50_ms": round(latencies[len(latencies) // 2] * 1e3, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1e3, 1) if latencies else None,
        "max_ms": round(latencies[-1] * 1e3, 1) if latencies else None,
        "cpu_us_per_msg": round(cpu / max(delivered, 1) * 1e6, 1),
        "rss_mb": round(rss, 1),
        "publish_call_ms": round(published["call_p50_ms"], 3),
        "publisher_cpu_ms_per_event": round(published["cpu_per_event_ms"], 3),
        "lost": lost,
        "duplicated": dup,
        "wrong": wrong,
        "lagging_errors": lagging,
    }


def prepare_db(workdir: Path, env: dict[str, str]) -> None:
    code = (
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); from chains.models import Chain; "
        "Chain.objects.get_or_create(chain_id=56, defaults=dict(name='BSC', native_symbol='BNB', block_time=0.45)); "
        "Chain.objects.get_or_create(chain_id=137, defaults=dict(name='Polygon', native_symbol='POL', block_time=2))"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)


DEFAULT_CASES = [
    "raw:100:10",
    "uvicorn:100:10",
    "daphne:100:10",
    "raw:1000:1",
    "uvicorn:1000:1",
    "raw:1000:10",
    "uvicorn:1000:10",
    "daphne:1000:10",
    "raw:1000:100",
    "uvicorn:1000:100",
    "uvicorn×2:1000:100",
]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        ports = [int(p) for p in sys.argv[2].split(",")]
        drain_max = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
        asyncio.run(client_main(ports, int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], drain_max))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--case",
        action="append",
        help="server:clients:events_per_s (server: raw, uvicorn, daphne, uvicorn×2), "
        "or scaling:server:clients:events_per_s (one vs two server processes, same load)",
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1, help="scaling cases: runs of each process count")
    parser.add_argument(
        "--cpu-cap",
        type=float,
        default=0.0,
        help="scaling cases: limit each server process to this many cores (cgroup v1 CFS quota, root), "
        "so that one and two processes are server-bound with CPU left for the clients",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ws-bench-"))
    with EmbeddedRedis() as redis:
        env = dict(
            os.environ,
            REDIS_URL=redis.url,
            DJANGO_SETTINGS_MODULE="arbmonitor.settings",
            SECRET_KEY="bench",
            ALLOWED_HOSTS="*",
            DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
            WS_MAX_CONNECTIONS="20000",
            WS_MAX_CONNECTIONS_PER_IP="0",  # every bench client connects from 127.0.0.1
            LOG_LEVEL="WARNING",
            WS_LEASE_KEY="bench:ws",
        )
        prepare_db(workdir, env)
        rows = []
        for case in args.case or DEFAULT_CASES:
            if case.startswith("scaling:"):
                # the same offered load on one and on two server processes (clients split across their
                # ports, one Redis), alternating 1, 2, 2, 1, ... so drifting background load hits both alike
                _, kind, n, rate = case.split(":")
                pair: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
                for r in range(args.repeat):
                    for processes in (1, 2) if r % 2 == 0 else (2, 1):
                        row = run_case(
                            kind, int(n), float(rate), args.duration, env, workdir, processes, True, args.cpu_cap
                        )
                        pair[processes].append(row)
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                for key in ("sustained_per_s", "delivered_per_s"):
                    one = sorted(row[key] for row in pair[1])[len(pair[1]) // 2]
                    two = sorted(row[key] for row in pair[2])[len(pair[2]) // 2]
                    print(
                        f"scaling {kind} {n}x{rate} {key} (median): 1 process {one}, 2 processes {two}, "
                        f"ratio {two / max(one, 1):.2f}",
                        flush=True,
                    )
                continue
            kind, n, rate = case.split(":")
            processes = 2 if kind.endswith("×2") else 1
            row = run_case(kind.removesuffix("×2"), int(n), float(rate), args.duration, env, workdir, processes)
            rows.append(row)
            print(json.dumps(row), flush=True)
        keys: list[str] = []
        for row in rows:
            if list(row) != keys:
                keys = list(row)
                print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
            print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
