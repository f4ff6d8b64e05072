"""The whole path, as real processes: devnet → Celery scans → database → Redis → WebSocket client.

Starts `python -m arbmonitor.run` (the command behind `make run`) on free ports with
its own var/ directory and database, connects a real WebSocket client, subscribes with
filters, and checks that opportunity and transaction notifications arrive, match the
filters and equal the stored rows, and that the admin lists them. The latency from a
block's timestamp to the client's receipt is printed (figures live in bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import websockets

from arbmonitor.embedded_redis import free_port
from tests.processes import child_environ, scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 180.0
DATA_TIMEOUT = 150.0


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    web: str
    ws: str
    var_dir: Path
    log_path: Path
    children: list[psutil.Process] = field(default_factory=list)

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def manage(self, code: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


def _launch(env: dict[str, str], var_dir: Path, log_path: Path) -> Stack:
    """Start `make run`'s command on a free port and wait until the worker and web are ready."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "arbmonitor.run", "--port", str(port), "--devnet-ports", "0,0"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Stack(process, env, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/v1/stream", var_dir, log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert process.poll() is None, f"make run exited early:\n{running.log_tail()}"
            try:
                log_text = log_path.read_text(errors="replace")
                # The worker loaded the registry and Celery says it is ready.
                ready = "chain 56 (" in log_text and "chain 137 (" in log_text and " ready." in log_text
                if ready and requests.get(running.web + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"the stack did not come up:\n{running.log_tail()}"
            time.sleep(1)
        running.children = psutil.Process(process.pid).children(recursive=True)
    except BaseException:
        _stop(running)
        raise
    return running


def _stop(running: Stack) -> None:
    process = running.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("e2e")
    var_dir = tmp_path / "var"
    with scratch_database(tmp_path, "arbmonitor_e2e") as database_url:
        env = child_environ()
        env.update(
            ARBMONITOR_VAR_DIR=str(var_dir),
            DATABASE_URL=database_url,
            DEBUG="1",
            WS_HEARTBEAT_SECONDS="5",
            # Plenty of small opportunities and arbitrages within a minute.
            OPPORTUNITY_MIN_PROFIT_USD="0.01",
            DEVNET_ARGS="--seed 11",
        )
        env.pop("SECRET_KEY", None)
        if os.environ.get("ARBMONITOR_EMBEDDED_REDIS"):
            env.pop("REDIS_URL", None)  # the launcher starts its own embedded Redis
        else:
            env["REDIS_URL"] = re.sub(r"/\d*$", "/9", env["REDIS_URL"])  # its own database on the shared server
        running = _launch(env, var_dir, tmp_path / "run.out")
        try:
            yield running
        finally:
            _stop(running)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _collect(ws_url: str, until: float) -> dict[str, Any]:
    """Subscribe with filters and gather notifications until both kinds arrived (or time is up)."""
    got: dict[str, Any] = {"opportunity": [], "transaction": [], "heartbeat": 0, "subscribed": []}
    async with websockets.connect(ws_url) as ws:
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "connected" and welcome["connection_id"]
        subscriptions = [
            {"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56, "min_profit": 0.05}},
            {"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": 3}},
            {"type": "subscribe", "channel": "transactions", "filters": {"chain_id": 137}},
        ]
        for message in subscriptions:
            await ws.send(json.dumps(message))
        got["subscribed_at"] = datetime.now(UTC).replace(microsecond=0)  # block timestamps are whole seconds
        while time.monotonic() < until:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(until - time.monotonic(), 0.1))
            except TimeoutError:
                break
            received_at = datetime.now(UTC)
            message = json.loads(raw)
            kind = message["type"]
            if kind in ("opportunity", "transaction"):
                got[kind].append((message, received_at))
            elif kind == "heartbeat":
                got["heartbeat"] += 1
            elif kind == "subscribed":
                got["subscribed"].append(message)
            elif kind == "error":
                raise AssertionError(f"server error: {message}")
            fresh = [m for m, _ in got["transaction"] if m["data"]["block_timestamp"] >= _iso(got["subscribed_at"])]
            if len(got["opportunity"]) >= 3 and len(fresh) >= 5:
                break
    return got


def _stored(stack: Stack, kind: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    if kind == "opportunity":
        code = (
            "import json; from opportunities.models import Opportunity as M; "
            "from opportunities.serializers import opportunity_data as s; "
        )
    else:
        code = (
            "import json; from transactions.models import ArbitrageTransaction as M; "
            "from transactions.serializers import transaction_data as s; "
        )
    code += f"print(json.dumps({{o.pk: s(o) for o in M.objects.filter(pk__in={ids!r})}}))"
    return {int(k): v for k, v in json.loads(stack.manage(code).strip().splitlines()[-1]).items()}


def test_blocks_reach_a_websocket_client_and_the_admin(stack: Stack) -> None:
    got = asyncio.run(_collect(stack.ws, time.monotonic() + DATA_TIMEOUT))
    assert len(got["subscribed"]) == 3
    opportunities = [m for m, _ in got["opportunity"]]
    transactions = [m for m, _ in got["transaction"]]
    assert opportunities, f"no opportunity notification:\n{stack.log_tail()}"
    assert transactions, f"no transaction notification:\n{stack.log_tail()}"

    # Every notification matches at least one of the subscriptions' filters.
    for message in opportunities:
        assert message["data"]["chain_id"] == 56 and message["data"]["profit_usd"] >= 0.05
    for message in transactions:
        data = message["data"]
        assert data["swap_count"] >= 3 or data["chain_id"] == 137
    # …and is never delivered twice.
    assert len({m["data"]["id"] for m in opportunities}) == len(opportunities)
    assert len({m["data"]["id"] for m in transactions}) == len(transactions)

    # The notification's data is exactly the stored row — except that a bot may have
    # captured the opportunity since (capture linking runs a block or more later).
    capture_fields = ("captured", "captured_by", "capture_tx_hash")
    for kind, messages in (("opportunity", opportunities), ("transaction", transactions)):
        stored = _stored(stack, kind, [m["data"]["id"] for m in messages])
        for message in messages:
            row = dict(stored[message["data"]["id"]])
            if kind == "opportunity" and row["captured"]:
                assert row["captured_by"] and row["capture_tx_hash"]
                row.update({field: message["data"][field] for field in capture_fields})
            assert message["data"] == row

    # Latency from the block's timestamp to the client's receipt (transactions carry it), for
    # blocks mined after the client subscribed (earlier ones arrive through the first catch-up).
    latencies = sorted(
        (received - stamp).total_seconds()
        for m, received in got["transaction"]
        if (stamp := datetime.fromisoformat(m["data"]["block_timestamp"])) >= got["subscribed_at"]
    )
    if latencies:
        print(
            f"\nblock timestamp -> client receipt (blocks after subscribing): min {latencies[0]:.3f}s, "
            f"median {latencies[len(latencies) // 2]:.3f}s, max {latencies[-1]:.3f}s, n={len(latencies)}"
        )

    # The admin lists them.
    password = (stack.var_dir / "demo-admin-password").read_text().strip()
    session = requests.Session()
    login_page = session.get(stack.web + "/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
    assert token, "no CSRF token on the login page"
    session.post(
        stack.web + "/admin/login/?next=/admin/",
        data={"username": "admin", "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": stack.web + "/admin/login/"},
        timeout=10,
    )
    # (Searched for: by now the first page may hold newer rows than the ones we received.)
    tx_hash = transactions[0]["data"]["tx_hash"]
    tx_page = session.get(stack.web + "/admin/transactions/arbitragetransaction/", params={"q": tx_hash}, timeout=30)
    assert tx_page.status_code == 200
    assert "/admin/login/" not in tx_page.url
    assert tx_hash[:10] in tx_page.text
    pool = opportunities[0]["data"]["pool_address"]
    opp_page = session.get(stack.web + "/admin/opportunities/opportunity/", params={"q": pool}, timeout=30)
    assert opp_page.status_code == 200
    assert opportunities[0]["data"]["pool_name"] in opp_page.text


def test_alerts_metrics_and_health_of_the_running_stack(stack: Stack) -> None:
    """Live rows reach a webhook through the alerts worker; the web's /metrics adds up every process."""
    from prometheus_client.parser import text_string_to_metric_families

    from alerts.signing import signature_verify
    from tests.alerts.receiver import Receiver

    receiver = Receiver().start()
    try:
        stack.manage(
            "from alerts.models import AlertRule; AlertRule.objects.create(name='e2e', channel='opportunities',"
            f" destination='webhook', url='{receiver.base}/hook/e2e', secret='e2e-secret')"
        )
        (first,) = receiver.wait_for(1, prefix="/hook/e2e", timeout=DATA_TIMEOUT)[:1]
    finally:
        receiver.stop()
    assert signature_verify("e2e-secret", first.headers["x-arbmonitor-signature"], first.body)
    assert first.json()["type"] == "alert" and first.json()["data"]["id"] > 0

    assert requests.get(stack.web + "/healthz", timeout=5).json() == {"ok": True}
    ready = requests.get(stack.web + "/readyz", timeout=5).json()
    assert ready["checks"]["database"] == "ok" and ready["checks"]["redis"] == "ok"
    assert {(s["chain_id"], s["kind"]) for s in ready["checks"]["scans"]} >= {
        (56, "pools"),
        (137, "transactions"),
    }

    response = requests.get(stack.web + "/metrics", timeout=10)
    assert response.status_code == 200
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
    # Written by the scan worker's prefork children, the alerts worker, the head watcher and the web.
    for name in (
        "arbmonitor_scan_blocks_total",
        "arbmonitor_rpc_requests_total",
        "arbmonitor_detections_stored_total",
        "arbmonitor_celery_task_duration_seconds_count",
        "arbmonitor_alert_deliveries_total",
        "arbmonitor_ws_connections_opened_total",
        "arbmonitor_broadcasts_total",
    ):
        assert samples.get(name, 0) > 0, name


def test_ctrl_c_stops_every_process(stack: Stack) -> None:
    children = stack.children
    assert len(children) >= 4  # devnet (+ anvils), web, worker (+ pool), beat
    stack.process.send_signal(signal.SIGINT)
    stack.process.wait(timeout=60)
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"left running: {alive}"


def test_make_run_again_shows_live_data(stack: Stack) -> None:
    """`make run`, Ctrl-C, `make run`: same var/ and database, a devnet restarted from genesis."""
    _stop(stack)  # (already stopped when the Ctrl-C test ran first)
    second = _launch(stack.env, stack.var_dir, stack.log_path.with_name("run-again.out"))
    try:
        log_text = second.log_path.read_text(errors="replace")
        assert "the devnet was restarted, clearing its previous run's rows" in log_text
        got = asyncio.run(_collect(second.ws, time.monotonic() + DATA_TIMEOUT))
        assert got["transaction"], f"no live data after the second start:\n{second.log_tail()}"
        assert got["opportunity"], f"no live data after the second start:\n{second.log_tail()}"
    finally:
        _stop(second)
