"""`make run`: the whole monitor as one supervised group of processes.

Starts (or reuses) what the processes need — the var/ directory, the database
schema, static files, a demo admin login, the embedded Redis unless REDIS_URL
is set — then runs the devnet with its market simulator, the web server, a
Celery worker, Celery beat and the head watcher (``watch_heads``; off with
HEADWATCH_ENABLED=0) under honcho. Every line of output is prefixed
with its process name and also appended to var/log/run.log. Ctrl-C (or any
child exiting) stops every child.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEMO_USERNAME = "admin"


class _Tee:
    """Honcho's printer writes here: the terminal and var/log/run.log."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, data: str) -> int:
        for stream in self.streams:
            stream.write(data)
            stream.flush()
        return len(data)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return self.streams[0].isatty()


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *args], env=env, check=True, cwd=BASE_DIR)


def demo_login(var_dir: Path, env: dict[str, str]) -> str:
    """Create (once) the demo superuser; its password lives in var/demo-admin-password."""
    password_file = var_dir / "demo-admin-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(12) + "\n")
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    code = (
        "from django.contrib.auth import get_user_model as g; U = g(); "
        f"u, _ = U.objects.get_or_create(username={DEMO_USERNAME!r}); "
        f"u.is_staff = u.is_superuser = True; u.set_password({password!r}); u.save()"
    )
    _manage("shell", "-c", code, env=env)
    return password


def web_command(server: str, host: str, port: int) -> str:
    if server == "daphne":
        return f"{shlex.quote(PYTHON)} -m daphne -b {host} -p {port} arbmonitor.asgi:application"
    # --no-proxy-headers: X-Forwarded-For is believed only from WS_TRUSTED_PROXIES (streaming/access.py)
    return (
        f"{shlex.quote(PYTHON)} -m uvicorn arbmonitor.asgi:application --host {host} --port {port} "
        "--no-access-log --no-proxy-headers"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arbmonitor.run", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("WEB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8000")))
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default=os.environ.get("WEB_SERVER", "uvicorn"))
    parser.add_argument(
        "--no-devnet", action="store_true", help="do not start the local chains (use CHAIN_REGISTRY_FILES)"
    )
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--alerts-concurrency", type=int, default=2, help="processes of the alerts worker")
    parser.add_argument(
        "--devnet-ports",
        default=os.environ.get("DEVNET_PORTS", "8545,8546"),
        help="anvil ports for chains 56 and 137 (0 = any free port)",
    )
    parser.add_argument(
        "--devnet-args", default=os.environ.get("DEVNET_ARGS", ""), help="more options for `python -m devnet up`"
    )
    args = parser.parse_args(argv)

    from honcho.manager import Manager
    from honcho.printer import Printer

    from arbmonitor.embedded_redis import EmbeddedRedis
    from arbmonitor.env import env_bool, redacted_url

    env = dict(os.environ)
    env.setdefault("DEBUG", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    var_dir = Path(env.get("ARBMONITOR_VAR_DIR", BASE_DIR / "var"))
    (var_dir / "log").mkdir(parents=True, exist_ok=True)
    # Prometheus multiprocess mode: every process below writes its metrics here and the web's
    # /metrics adds them up; last run's files would count twice, so it starts empty.
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(var_dir / "prometheus"))
    metrics_dir = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()

    redis: EmbeddedRedis | None = None
    if not env.get("REDIS_URL"):
        redis = EmbeddedRedis().start()
        env["REDIS_URL"] = redis.url
    try:
        print("• migrating the database", flush=True)
        _manage("migrate", "--noinput", "-v0", env=env)
        _manage("collectstatic", "--noinput", "-v0", env=env)
        password = demo_login(var_dir, env)

        log = (var_dir / "log" / "run.log").open("a", encoding="utf-8")
        manager = Manager(Printer(_Tee(sys.stdout, log)))
        prepare = f"{shlex.quote(PYTHON)} -m arbmonitor.run_prepare"
        wait = f"{prepare} --wait-only"
        if not args.no_devnet:
            # A new devnet starts from genesis: last run's manifests must not be mistaken for it.
            for stale in (var_dir / "devnet").glob("chain-*.json"):
                stale.unlink()
            port_56, port_137 = (int(p) for p in args.devnet_ports.split(","))
            devnet = (
                f"{shlex.quote(PYTHON)} -m devnet up --out-dir {shlex.quote(str(var_dir / 'devnet'))}"
                f" --port-56 {port_56} --port-137 {port_137} {args.devnet_args}"
            )
            manager.add_process("devnet", devnet, env=env, cwd=str(BASE_DIR))
        manager.add_process("web", web_command(args.server, args.host, args.port), env=env, cwd=str(BASE_DIR))
        celery = f"{shlex.quote(PYTHON)} -m celery -A arbmonitor"
        manager.add_process(
            "worker",
            f"{prepare} && exec {celery} worker -l INFO --concurrency {args.worker_concurrency} -n worker@%h",
            env=env,
            cwd=str(BASE_DIR),
        )
        # Alerts have their own queue and worker: a slow destination never delays a scan.
        manager.add_process(
            "alerts",
            f"{wait} && exec {celery} worker -l INFO -Q {shlex.quote(env.get('ALERTS_QUEUE') or 'alerts')}"
            f" --concurrency {args.alerts_concurrency} -n alerts@%h",
            env=env,
            cwd=str(BASE_DIR),
        )
        headwatch = env_bool("HEADWATCH_ENABLED", True, environ=env)
        if headwatch:
            # The watcher triggers both scans on every block; beat is then only the safety
            # net, and firing it every block as well doubles the queued work and makes scans
            # collide on the lock (bench/RESULTS-latency.md).
            env.setdefault("SCAN_BEAT_INTERVAL_SECONDS", "10")
        manager.add_process(
            "beat",
            f"{wait} && exec {celery} beat -l INFO -s {shlex.quote(str(var_dir / 'celerybeat-schedule'))}",
            env=env,
            cwd=str(BASE_DIR),
        )

        if headwatch:
            # Triggers both scans the moment a block is seen; beat (above) stays the safety net.
            manager.add_process(
                "heads",
                f"{wait} && exec {shlex.quote(PYTHON)} manage.py watch_heads",
                env=env,
                cwd=str(BASE_DIR),
            )

        base = f"http://{args.host}:{args.port}"
        ws = f"ws://{args.host}:{args.port}/ws/v1/stream"
        print(
            "\n".join(
                [
                    "",
                    "ArbMonitor is starting (Ctrl-C stops everything):",
                    f"  dashboard  {base}/",
                    f"  api        {base}/api/v1/   docs: {base}/api/v1/docs/",
                    f"  admin      {base}/admin/   login: {DEMO_USERNAME} / {password}",
                    f"  websocket  {ws}",
                    f"    websocat {ws}",
                    '      then send {"type":"subscribe","channel":"opportunities","filters":{}}',
                    f"    {Path(PYTHON).name} -m streaming.client {ws}",
                    f"  redis      {redacted_url(env['REDIS_URL'])}{' (embedded)' if redis else ''}",
                    f"  metrics    {base}/metrics   health {base}/healthz  {base}/readyz",
                    f"  logs       {var_dir / 'log' / 'run.log'}",
                    "",
                ]
            ),
            flush=True,
        )
        started = time.monotonic()
        manager.loop()
        print(f"• stopped after {time.monotonic() - started:.0f}s", flush=True)
        return 0 if manager.returncode in (0, None, 130, -2) else int(manager.returncode)
    except KeyboardInterrupt:
        return 130
    finally:
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())
