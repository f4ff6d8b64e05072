# ruff: noqa: ASYNC110, ASYNC240  (the clients poll marker files on purpose: a benchmark, not served code)
"""Scale benchmark (not a test): 10,000 WebSocket connections over 2 uvicorn processes on this machine.

Layout. Each web process is uvicorn serving arbmonitor.asgi on a listening socket of its
own bound to the SAME port with ``SO_REUSEPORT`` (``--serve`` below): the kernel spreads
new connections over the processes by a hash of the 4-tuple, with no extra hop and no
balancer process competing for the 2 cores (a local proxy would copy every byte of
10,000 msg/s once more). uvicorn's own ``--workers`` shares one socket instead, and which
process accepts is whoever wakes first: uneven under load. One Redis (embedded), one
SQLite database, a publisher process (``streaming.broadcast``, as the scanners call it).

Clients. ``--client-processes`` processes (default 2) of raw asyncio sockets: a hand-written
handshake and frame reader that only timestamps each frame as it arrives (parsing happens
after the run), so a client costs a few µs per message. Each process runs an event-loop lag
probe (a 50 ms ticker): if its lag stays far below the measured latency, the client did
not delay the receipts. Four filter mixes, each getting one event a second: chain 56;
chain 137; chain 56 with ``min_profit`` 0 plus a second subscription that never matches;
chain 137 with ``max_profit``. The publisher sends one event per chain per second, so
10,000 clients get 10,000 messages a second.

Phases: connect all; idle window (heartbeats every ``--heartbeat`` s, uvicorn pings every
20 s): server CPU and RSS per connection; delivery window (``--duration`` s of events):
latency from the broadcast call (the notification's ``timestamp``) to receipt, p50/p99/max,
lost / duplicated / wrongly filtered, server and client CPU, loop lag. ``--deflate`` runs a
smaller comparison of permessage-deflate on and off (server CPU per message, bytes per
message, RSS per connection).

    .venv/bin/python bench/ws_scale.py                                  # 10,000 × 1 event/s, 2 processes
    .venv/bin/python bench/ws_scale.py --connections 2000 --duration 20
    .venv/bin/python bench/ws_scale.py --deflate --connections 1000 --rate 10 --repeat 2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ws_fanout import PUBLISHER, event_fields, matches, prepare_db  # noqa: E402

from arbmonitor.embedded_redis import EmbeddedRedis, free_port  # noqa: E402

# Each mix gets exactly one of the two events published each second (ws_fanout's events alternate
# chains 137/56, profits (i * 37) % 1000).
MIXES: list[list[dict[str, Any]]] = [
    [{"chain_id": 56}],
    [{"chain_id": 137}],
    [{"chain_id": 56, "min_profit": 0.0}, {"chain_id": 137, "min_profit": 5000.0}],
    [{"chain_id": 137, "max_profit": 1000.0}],
]
OPPORTUNITY = b'{"type": "opportunity"'
HEARTBEAT = b'{"type": "heartbeat"'


# --- a web process on a SO_REUSEPORT socket ---------------------------------------------------


def serve(port: int) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    config = uvicorn.Config(
        "arbmonitor.asgi:application", log_level="warning", access_log=False, proxy_headers=False, backlog=4096
    )
    uvicorn.Server(config).run(sockets=[sock])


# --- light clients ----------------------------------------------------------------------------


class Reader(asyncio.Protocol):
    """Reads server frames; keeps (receipt time, payload) of text frames; inflates permessage-deflate."""

    __slots__ = ("buf", "closed_code", "handshake", "inflater", "notifications", "sink", "transport", "wire_bytes")

    def __init__(self, handshake: asyncio.Future[None]) -> None:
        self.buf = b""
        self.sink: list[tuple[float, bytes]] = []
        self.handshake = handshake
        self.closed_code: int | None = None
        self.inflater: Any = None
        self.wire_bytes = 0
        self.notifications = 0  # (heartbeats keep coming: the drain waits for notifications to stop)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed_code is None:
            self.closed_code = 1006
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buf + data
        if not self.handshake.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head = buf[:end]
            if b" 101 " not in head:
                self.handshake.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            if b"permessage-deflate" in head.lower():
                self.inflater = zlib.decompressobj(-15)
            buf = buf[end + 4 :]
            self.handshake.set_result(None)
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F
            head_len = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = struct.unpack_from("!H", buf, pos + 2)[0]
                head_len = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                head_len = 10
            if size - pos < head_len + length:
                break
            first = buf[pos]
            opcode = first & 0x0F
            payload = buf[pos + head_len : pos + head_len + length]
            if opcode == 1:
                if first & 0x40 and self.inflater is not None:  # RSV1: compressed message
                    payload = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
                if payload.startswith(OPPORTUNITY):
                    self.wire_bytes += head_len + length
                    self.notifications += 1
                self.sink.append((now, payload))
            elif opcode == 9:  # ping: answer, as every WebSocket library does (else the server closes us)
                self.transport.write(masked_frame(0x8A, payload))
            elif opcode == 8:
                self.closed_code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
            pos += head_len + length
        self.buf = buf[pos:]


def masked_frame(first_byte: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([first_byte, 0x80 | len(payload)]) + mask + masked


def masked_text(text: str) -> bytes:
    return masked_frame(0x81, text.encode())


async def open_one(port: int, mix: list[dict[str, Any]], deflate: bool) -> Reader:
    loop = asyncio.get_running_loop()
    handshake: asyncio.Future[None] = loop.create_future()
    transport, reader = await loop.create_connection(lambda: Reader(handshake), "127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    extension = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else ""
    transport.write(
        (
            f"GET /ws/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extension}\r\n"
        ).encode()
    )
    await asyncio.wait_for(handshake, 120)
    for filters in mix:
        transport.write(masked_text(json.dumps({"type": "subscribe", "channel": "opportunities", "filters": filters})))
    return reader


async def client_main(port: int, n: int, offset: int, out: str, deflate: bool, quiet: float) -> None:
    loop = asyncio.get_running_loop()
    readers: list[Reader | None] = [None] * n
    failures: list[str] = []
    gate = asyncio.Semaphore(64)

    async def one(k: int) -> None:
        async with gate:
            try:
                readers[k] = await open_one(port, MIXES[(offset + k) % len(MIXES)], deflate)
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")

    started = time.monotonic()
    await asyncio.gather(*(one(k) for k in range(n)))
    connect_seconds = time.monotonic() - started
    live = [r for r in readers if r is not None]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(
        sum(1 for _, m in r.sink if m.startswith(b'{"type": "subscribed"')) >= len(MIXES[0]) for r in live
    ):
        await asyncio.sleep(0.2)
    lags: list[tuple[float, float]] = []

    async def probe() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.05)
            lags.append((time.time(), loop.time() - before - 0.05))

    probe_task = asyncio.create_task(probe())
    Path(out + ".ready").write_text(json.dumps({"connected": len(live), "failures": failures[:5]}))
    while not Path(out + ".stop").exists():
        await asyncio.sleep(0.2)
    # Drain: until nothing new arrives for `quiet` s (at most 600 s), so a missing message is really lost
    # (on a starved machine the servers can pause for seconds; a short quiet window would count late as lost).
    drain_until = time.monotonic() + 600
    count = -1
    while time.monotonic() < drain_until and count != (count := sum(r.notifications for r in live)):
        await asyncio.sleep(quiet)
    probe_task.cancel()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {
        "connected": len(live),
        "failures": len(failures),
        "failure_sample": failures[:5],
        "connect_seconds": connect_seconds,
        "cpu_seconds": cpu.ru_utime + cpu.ru_stime,
        "max_rss_kb": cpu.ru_maxrss,
        "lags": lags,
        "connections": [],
        "heartbeats": [],
    }
    for k, reader in enumerate(readers):
        if reader is None:
            continue
        messages = []
        wire = 0
        for t, payload in reader.sink:
            if payload.startswith(OPPORTUNITY):
                msg = json.loads(payload)
                sent = datetime.fromisoformat(msg["timestamp"].replace("Z", "+00:00")).timestamp()
                messages.append((t, msg["data"]["id"], sent))
            elif payload.startswith(HEARTBEAT):
                result["heartbeats"].append(t)
        wire = reader.wire_bytes
        result["connections"].append(
            {"mix": (offset + k) % len(MIXES), "closed": reader.closed_code, "messages": messages, "wire_bytes": wire}
        )
        reader.transport.close()
    Path(out).write_text(json.dumps(result))


# --- orchestration ----------------------------------------------------------------------------


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    return hard


def wait_port(port: int, procs: list[subprocess.Popen[bytes]]) -> None:
    for _ in range(1200):
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def cpu_of(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def established(proc: psutil.Process, port: int) -> int:
    connections = getattr(proc, "net_connections", proc.connections)(kind="tcp")
    return sum(1 for c in connections if c.status == "ESTABLISHED" and c.laddr and c.laddr.port == port)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def run(args: argparse.Namespace, env: dict[str, str], workdir: Path, deflate: bool) -> dict[str, Any]:
    env = dict(env, WS_PER_MESSAGE_DEFLATE="1" if deflate else "0", WS_HEARTBEAT_SECONDS=str(args.heartbeat))
    load_before = os.getloadavg()
    port = free_port()
    logs = [(workdir / f"web-{port}-{i}.log").open("wb") for i in range(args.processes)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        for log in logs
    ]
    try:
        wait_port(port, procs)
        time.sleep(3)  # every process listening (the probe connection may have reached only one)
        servers = [psutil.Process(p.pid) for p in procs]
        rss0 = [s.memory_info().rss for s in servers]
        out = str(workdir / f"clients-{port}")
        per = args.connections // args.client_processes
        clients = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--client",
                    str(port),
                    str(per if c < args.client_processes - 1 else args.connections - per * c),
                    str(per * c),
                    f"{out}-{c}",
                    "1" if deflate else "0",
                    str(args.drain_quiet),
                ],
                env=env,
                cwd=ROOT,
            )
            for c in range(args.client_processes)
        ]
        connect_started = time.time()
        for c, client in enumerate(clients):
            while not Path(f"{out}-{c}.ready").exists():
                if client.poll() is not None:
                    raise RuntimeError("a client process failed")
                time.sleep(0.2)
        connect_wall = time.time() - connect_started
        ready = [json.loads(Path(f"{out}-{c}.ready").read_text()) for c in range(args.client_processes)]
        time.sleep(2)
        rss1 = [s.memory_info().rss for s in servers]
        split = [established(s, port) for s in servers]
        clients_ps = [psutil.Process(c.pid) for c in clients]
        client_rss = sum(c.memory_info().rss for c in clients_ps)

        # idle window: heartbeats (and the servers' pings) only
        idle_t0, idle_cpu0 = time.time(), [cpu_of(s) for s in servers]
        time.sleep(args.idle)
        idle_t1, idle_cpu1 = time.time(), [cpu_of(s) for s in servers]

        # delivery window
        machine0 = psutil.cpu_times()
        srv0, cli0, t0 = [cpu_of(s) for s in servers], [cpu_of(c) for c in clients_ps], time.time()
        pub = subprocess.run(
            [sys.executable, "-c", PUBLISHER, "channels", str(args.rate), str(args.duration), env["REDIS_URL"]],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        srv1, cli1, t1 = [cpu_of(s) for s in servers], [cpu_of(c) for c in clients_ps], time.time()
        machine1 = psutil.cpu_times()
        if pub.returncode:
            raise RuntimeError(pub.stderr)
        published = json.loads(pub.stdout.strip().splitlines()[-1])
        for c in range(args.client_processes):
            Path(f"{out}-{c}.stop").write_text("1")
        for client in clients:
            client.wait(timeout=900)
        results = [json.loads(Path(f"{out}-{c}").read_text()) for c in range(args.client_processes)]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()

    total = published["events"]
    expected_by_mix = [{i for i in range(total) if any(matches(f, *event_fields(i)) for f in mix)} for mix in MIXES]
    latencies: list[float] = []
    delivered = lost = dup = wrong = closed = wire = 0
    for result in results:
        for conn in result["connections"]:
            expected = expected_by_mix[conn["mix"]]
            seen: set[int] = set()
            for t, i, sent in conn["messages"]:
                latencies.append(t - sent)
                if i in seen:
                    dup += 1
                elif i not in expected:
                    wrong += 1
                seen.add(i)
                delivered += 1
            lost += len(expected - seen)
            closed += conn["closed"] is not None
            wire += conn["wire_bytes"]
    connected = sum(r["connected"] for r in results)
    heartbeats = sum(1 for r in results for t in r["heartbeats"] if idle_t0 <= t <= idle_t1)
    lags = [lag for r in results for t, lag in r["lags"] if t0 <= t <= t1 + 3]
    idle_cores = [(b - a) / (idle_t1 - idle_t0) for a, b in zip(idle_cpu0, idle_cpu1, strict=True)]
    span = t1 - t0
    busy = 1 - (machine1.idle - machine0.idle) / (span * (psutil.cpu_count() or 1))
    server_cpu = sum(srv1) - sum(srv0)
    return {
        "deflate": deflate,
        "processes": args.processes,
        "connections": connected,
        "connect_failures": sum(r["failures"] for r in results),
        "failure_sample": [f for r in results for f in r["failure_sample"]][:3],
        "split_per_process": split,
        "connect_s": round(connect_wall, 1),
        "load_before": [round(x, 2) for x in load_before],
        "rss_before_mb": [round(x / 2**20, 1) for x in rss0],
        "rss_after_mb": [round(x / 2**20, 1) for x in rss1],
        "server_kb_per_connection": round((sum(rss1) - sum(rss0)) / max(connected, 1) / 1024, 1),
        "client_kb_per_connection": round(client_rss / max(connected, 1) / 1024, 1),
        "idle_s": args.idle,
        "heartbeat_interval_s": args.heartbeat,
        "heartbeats_per_s": round(heartbeats / (idle_t1 - idle_t0)),
        "idle_server_cores": [round(c, 3) for c in idle_cores],
        "idle_cpu_us_per_heartbeat": round(sum(idle_cores) * (idle_t1 - idle_t0) / max(heartbeats, 1) * 1e6, 1),
        "events": total,
        "events_per_s": args.rate,
        "offered_per_s": round(sum(len(e) for e in expected_by_mix) * connected / len(MIXES) / args.duration),
        "delivered": delivered,
        "delivered_per_s": round(delivered / args.duration),
        "p50_ms": round((pct(latencies, 0.5) or 0) * 1e3, 1),
        "p99_ms": round((pct(latencies, 0.99) or 0) * 1e3, 1),
        "max_ms": round(max(latencies, default=0) * 1e3, 1),
        "last_receipt_after_publisher_s": round(
            max((t for r in results for c in r["connections"] for t, _, _ in c["messages"]), default=t1) - t1, 1
        ),
        "lost": lost,
        "duplicated": dup,
        "wrong": wrong,
        "closed_by_server": closed,
        "server_cores": [round((b - a) / span, 2) for a, b in zip(srv0, srv1, strict=True)],
        "server_cpu_us_per_msg": round(server_cpu / max(delivered, 1) * 1e6, 1),
        "client_cores": [round((b - a) / span, 2) for a, b in zip(cli0, cli1, strict=True)],
        "client_loop_lag_p99_ms": round((pct(lags, 0.99) or 0) * 1e3, 1),
        "client_loop_lag_max_ms": round(max(lags, default=0) * 1e3, 1),
        "machine_busy_pct": round(100 * busy, 1),
        "wire_bytes_per_msg": round(wire / max(delivered, 1), 1),
        "publisher_cpu_ms_per_event": round(published["cpu_per_event_ms"], 2),
        "ready": ready,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        port, n, offset, out, deflate, quiet = sys.argv[2:8]
        asyncio.run(client_main(int(port), int(n), int(offset), out, deflate == "1", float(quiet)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2, help="web processes on one SO_REUSEPORT port")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--rate", type=float, default=2.0, help="events/s (each client matches half of them)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of events")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of the idle (heartbeat) window")
    parser.add_argument("--heartbeat", type=float, default=10.0, help="WS_HEARTBEAT_SECONDS")
    parser.add_argument("--drain-quiet", type=float, default=10.0, help="clients stop after this long with nothing new")
    parser.add_argument("--deflate", action="store_true", help="permessage-deflate off and on, alternated")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    hard = raise_fd_limit()
    print(f"file descriptors: {hard}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="ws-scale-"))
    with EmbeddedRedis() as redis:
        env = dict(
            os.environ,
            REDIS_URL=redis.url,
            DJANGO_SETTINGS_MODULE="arbmonitor.settings",
            SECRET_KEY="bench",
            ALLOWED_HOSTS="*",
            DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
            WS_MAX_CONNECTIONS=str(args.connections * 2),
            WS_MAX_CONNECTIONS_PER_IP="0",  # every bench client connects from 127.0.0.1
            LOG_LEVEL="WARNING",
            WS_LEASE_KEY="bench:ws",
        )
        prepare_db(workdir, env)
        settings = [False, True] if args.deflate else [False]
        for r in range(args.repeat):
            for deflate in settings if r % 2 == 0 else settings[::-1]:
                row = run(args, env, workdir, deflate)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
