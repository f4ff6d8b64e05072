"""Real Celery worker processes: kill -9 mid-send, a destination that hangs, metrics from prefork children.

What is guaranteed, and checked here: every matched (rule, row) has exactly one delivery row
and reaches the destination at least once; a request that was in flight when its worker died is
sent again with the SAME idempotency key (the receiver can drop it); nothing else is repeated.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.signing import signature_verify
from arbmonitor import metrics
from tests.alerts.receiver import Receiver
from tests.processes import child_environ, process_log, scratch_database, stop_process_groups

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE_DIR = Path(__file__).resolve().parents[2]
SECRET = "kill-test-secret"
ROWS = 5


class Site:
    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen[bytes]] = []

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def shell(self, code: str) -> Any:
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "arbmonitor", *args],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        queue = self.env["ALERTS_QUEUE"]
        return self.start(name, "worker", "-l", "INFO", "-Q", queue, "-c", "2", "-n", f"{name}-{os.getpid()}@%h")

    def log(self, name: str) -> str:
        return process_log(self.tmp_path, name)

    def stop_all(self) -> None:
        stop_process_groups(self.processes)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with scratch_database(tmp_path, "arbmonitor_alerts_kill") as database_url:
        env = child_environ()
        env.update(
            DATABASE_URL=database_url,
            ARBMONITOR_VAR_DIR=str(tmp_path / "var"),
            ALERTS_QUEUE=f"alerts-kill-test-{os.getpid()}",
            ALERTS_ALLOW_PRIVATE_DESTINATIONS="1",
            ALERTS_HTTP_TIMEOUT_SECONDS="1",
            ALERTS_CLAIM_TIMEOUT_SECONDS="3",
            ALERTS_SWEEP_SECONDS="1",
            ALERTS_MAX_ATTEMPTS="3",
            ALERTS_BACKOFF_BASE_SECONDS="0.2",
            CHAIN_REGISTRY_FILES="",
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        )
        (tmp_path / "prometheus").mkdir()
        (tmp_path / "var").mkdir()
        running = Site(env, tmp_path)
        running.manage("migrate", "--noinput", "-v0")
        try:
            yield running
        finally:
            running.stop_all()


SEED = """
import json
from django.utils import timezone
from alerts.models import AlertRule
from alerts.tasks import match_detections
from tests.factories import OpportunityFactory
ok = AlertRule.objects.create(name="ok", channel="opportunities", destination="webhook", url="{base}/hook/kill",
                              secret="{secret}")
down = AlertRule.objects.create(name="down", channel="opportunities", destination="webhook", url="{base}/hook/down")
ids = [OpportunityFactory(detected_at=timezone.now()).pk for _ in range({rows})]
match_detections.delay("opportunities", ids)
print(json.dumps({{"ok": ok.pk, "down": down.pk, "ids": ids}}))
"""

STATES = """
import json
from alerts.models import AlertDelivery
print(json.dumps([[d.rule_id, d.row_id, d.state, d.attempts, d.idempotency_key]
                  for d in AlertDelivery.objects.order_by("pk")]))
"""


def test_kill_9_mid_send_repeats_only_the_in_flight_request_with_its_key(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver().start()
    try:
        receiver.script("/hook/kill", ("hold",))  # the first request is in flight when its worker dies
        receiver.script("/hook/down", *[("sleep", 3)] * 50)  # a destination that hangs: every attempt times out
        site.start("beat", "beat", "-l", "INFO", "-s", str(site.tmp_path / "beat-schedule"))
        first = site.worker("worker1")
        seeded = site.shell(SEED.format(base=receiver.base, secret=SECRET, rows=ROWS))

        assert receiver.held.wait(90), site.log("worker1")
        in_flight_keys = {r.headers["idempotency-key"] for r in receiver.under("/hook/kill")}
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its prefork children, mid-send
        first.wait(timeout=20)
        receiver.release()

        site.worker("worker2")
        deadline = time.monotonic() + 120
        while True:
            states = site.shell(STATES)
            ok = [s for s in states if s[0] == seeded["ok"]]
            if len(ok) == ROWS and all(s[2] == "sent" for s in ok):
                break
            assert time.monotonic() < deadline, f"{states}\n{site.log('worker2')}"
            time.sleep(1)
    finally:
        receiver.stop()

    # One delivery row per (rule, row), whatever happened to the worker.
    keys = [s[4] for s in states]
    assert len(keys) == len(set(keys)) == 2 * ROWS
    assert sorted(s[1] for s in ok) == sorted(seeded["ids"])

    # At least once to the destination, every request signed; repeats only of what was in flight.
    received = receiver.under("/hook/kill")
    for request in received:
        assert signature_verify(SECRET, request.headers["x-arbmonitor-signature"], request.body)
    counts = collections.Counter(r.headers["idempotency-key"] for r in received)
    assert set(counts) == {s[4] for s in ok}
    repeated = {key for key, n in counts.items() if n > 1}
    assert repeated and repeated <= in_flight_keys and all(counts[k] == 2 for k in repeated)

    # The hanging destination did not hold up the other rule; its deliveries time out and retry.
    down = [s for s in states if s[0] == seeded["down"]]
    assert down and all(s[2] != "sent" for s in down)
    assert any(s[3] >= 1 for s in down)

    # Metrics written by the prefork children, added up across processes.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", site.env["PROMETHEUS_MULTIPROC_DIR"])
    body, _ = metrics.metrics_text()  # what /metrics serves in multiprocess mode
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    sent = samples[("arbmonitor_alert_deliveries_total", (("destination", "webhook"), ("outcome", "sent")))]
    assert sent >= ROWS
    assert samples[("arbmonitor_alert_deliveries_total", (("destination", "webhook"), ("outcome", "retry")))] >= 1
    durations = [
        value
        for (name, labels), value in samples.items()
        if name == "arbmonitor_celery_task_duration_seconds_count" and ("task", "alerts.tasks.deliver") in labels
    ]
    assert sum(durations) >= ROWS
