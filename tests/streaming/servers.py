"""Real web processes for the integration tests: uvicorn or daphne serving arbmonitor.asgi."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from arbmonitor.embedded_redis import free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]

PREPARE_DB = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from chains.models import Chain
Chain.objects.get_or_create(chain_id=56, defaults=dict(name="BNB Smart Chain", native_symbol="BNB", block_time=0.45))
Chain.objects.get_or_create(chain_id=137, defaults=dict(name="Polygon", native_symbol="POL", block_time=2.0))
"""

PUBLISH = """
import json, sys
import django
django.setup()
from streaming.broadcast import broadcast_flush, broadcast_opportunity, broadcast_transaction
for kind, data in json.load(sys.stdin):
    (broadcast_opportunity if kind == "opportunity" else broadcast_transaction)(data)
assert broadcast_flush(20), "publisher did not flush"
"""


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="arbmonitor.settings",
        SECRET_KEY="test-only-secret-key",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # Every test client connects from 127.0.0.1: no per-address cap unless a test sets one.
        WS_MAX_CONNECTIONS_PER_IP="0",
    )
    env.update(extra)
    return env


def prepare_database(path: Path) -> str:
    url = f"sqlite:///{path}"
    subprocess.run([sys.executable, "-c", PREPARE_DB], env=base_env(url), cwd=ROOT, check=True, timeout=120)
    return url


def publish(database_url: str, events: list[tuple[str, dict]], **env: str) -> None:
    import json

    subprocess.run(
        [sys.executable, "-c", PUBLISH],
        input=json.dumps(events).encode(),
        env=base_env(database_url, **env),
        cwd=ROOT,
        check=True,
        timeout=120,
    )


@dataclass
class WebServer:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    origin: str = field(init=False)

    def __post_init__(self) -> None:
        self.origin = f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v1/stream"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def command(kind: str, port: int, args: Sequence[str] = ()) -> list[str]:
    if kind == "uvicorn":
        return [str(BIN / "uvicorn"), "arbmonitor.asgi:application", "--host", "127.0.0.1", "--port", str(port), *args]
    return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), *args, "arbmonitor.asgi:application"]


def ping_args(kind: str, interval: float, timeout: float) -> list[str]:
    """The server's WebSocket ping interval and pong timeout, in its own flags."""
    if kind == "uvicorn":
        return ["--ws-ping-interval", str(interval), "--ws-ping-timeout", str(timeout)]
    return ["--ping-interval", str(interval), "--ping-timeout", str(timeout)]


def live_leases(redis_url: str, key: str) -> int:
    """Connection leases in Redis that have not expired (what the server counts against the limit)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        seconds, micros = client.time()
        return int(client.zcount(key, f"({seconds + micros / 1e6}", "+inf"))
    finally:
        client.close()


def start_server(
    kind: str, env: dict[str, str], log_dir: Path, port: int | None = None, args: Sequence[str] = ()
) -> WebServer:
    port = port or free_port()
    log = log_dir / f"{kind}-{port}-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command(kind, port, args), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = WebServer(kind, port, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{kind} did not listen on {port} within 60 s:\n{log.read_text()}")
