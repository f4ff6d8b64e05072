"""The scanners under infrastructure faults: Redis killed and restarted empty, PostgreSQL restarted,
a scanning process killed with -9. RPC faults are ``tests/chains/test_faults.py`` and the fault-proxy
tests of issue 11 (#5-#7).

The common promise: the rows stored equal those of a clean run over the same blocks, each once
(no gap, no duplicate). The clean run is the backfill of every registered kind over the whole
history, from an empty store (``test_pipeline.py`` shows it equals what the live scanners keep).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from arbmonitor.embedded_redis import EmbeddedRedis, free_port
from chains.config import ChainConfig
from evm.rpc import ChainClient
from opportunities.models import Opportunity
from opportunities.scanner import market_forget, pool_scan_run
from scanning.loop import scan_range, scan_run
from scanning.registry import scan_kinds
from tests.chains.conftest import config_for
from tests.opportunities.devnet_support import FAST
from tests.processes import child_environ, scratch_database
from transactions.models import ArbitrageTransaction
from transactions.monitor import ArbitrageMonitor

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]
SIM = {"late_probability": 0.0}
TIMEOUT = 60


class HookedClient(ChainClient):
    """The real client; ``hook`` runs before the Nth RPC call from now (the fault lands mid-run)."""

    hook: Callable[[], None] | None = None
    countdown: int = 0

    def _dispatch(self, payload: Any, methods: Sequence[str], check: Any) -> Any:
        if self.hook is not None:
            self.countdown -= 1
            if self.countdown <= 0:
                hook, self.hook = self.hook, None
                hook()
        return super()._dispatch(payload, methods, check)

    def fault_after(self, calls: int, hook: Callable[[], None]) -> None:
        self.countdown, self.hook = calls, hook


def _client(config: ChainConfig) -> HookedClient:
    client = HookedClient.from_config(config, **FAST)
    assert isinstance(client, HookedClient)
    return client


def stored() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every stored row's natural key, sorted, duplicates kept (a duplicate would show)."""
    opportunities = sorted(Opportunity.objects.values_list("pool_address", "block_number", "block_hash"))
    transactions = sorted(ArbitrageTransaction.objects.values_list("tx_hash", "block_hash"))
    return opportunities, transactions


def clean_run(net: Any, config: ChainConfig, client: ChainClient) -> tuple[list[Any], list[Any]]:
    """Forget every row and scan the whole history again without faults: the ground truth."""
    Opportunity.objects.all().delete()
    ArbitrageTransaction.objects.all().delete()
    market_forget()
    head, start = net.block_number(), int(net.manifest["deployed_at_block"])
    for kind in scan_kinds():
        processor = kind.backfill_processor(config, client, {})
        scan_range(56, processor, from_block=start, to_block=head, chunk_blocks=50, config=config, client=client)
    return stored()


def scan_both(config: ChainConfig, client: ChainClient, monitor: ArbitrageMonitor, *, max_blocks: int) -> bool:
    """One run of each scanner; True when both are at the head."""
    pools = pool_scan_run(chain_id=56, config=config, client=client, max_blocks=max_blocks)
    txs = scan_run(56, monitor, config=config, client=client, max_blocks=max_blocks)
    return pools.to_block in (None, pools.head) and txs.to_block in (None, txs.head)


def scan_to_head(config: ChainConfig, client: ChainClient, monitor: ArbitrageMonitor, *, max_blocks: int) -> None:
    for _ in range(200):
        if scan_both(config, client, monitor, max_blocks=max_blocks):
            return
    raise AssertionError("the scanners never reached the head")


# --- Redis killed and restarted, empty, mid-scan -------------------------------------------------------------


def test_redis_killed_and_restarted_empty_mid_scan_rows_equal_a_clean_run(devnet_56_fresh: Any, settings: Any) -> None:
    net = devnet_56_fresh
    config = config_for(net)
    client = _client(config)
    monitor = ArbitrageMonitor(config=config, client=client)
    server = EmbeddedRedis().start()
    settings.REDIS_URL = server.url  # the scan lock's Redis (and the backfill checkpoints')

    def kill_redis() -> None:
        assert server.process is not None
        server.process.kill()  # kill -9: no goodbye
        server.process.wait(timeout=10)

    try:
        scan_to_head(config, client, monitor, max_blocks=5)
        net.simulate(6, seed=71, **SIM)
        # Redis dies between runs: the next run cannot take its lock and fails, writing nothing.
        kill_redis()
        with pytest.raises(redis.exceptions.ConnectionError):
            scan_both(config, client, monitor, max_blocks=3)
        server = EmbeddedRedis(port=server.port).start()  # the same address, empty: no lock, no checkpoint
        assert scan_both(config, client, monitor, max_blocks=3) is False  # scanning again, a batch at a time
        # Redis dies during a run (after the lock was taken, while the batch is fetched), and comes back empty.
        for round_ in range(3):
            client.fault_after(2, kill_redis)
            # The run's batch commits or not (cursor and rows in one transaction); the lock's release then fails.
            with contextlib.suppress(redis.exceptions.ConnectionError):
                pool_scan_run(chain_id=56, config=config, client=client, max_blocks=3)
            assert client.hook is None and server.process is not None and server.process.poll() is not None
            server = EmbeddedRedis(port=server.port).start()
            with contextlib.suppress(redis.exceptions.ConnectionError):
                client.fault_after(1, kill_redis)
                scan_run(56, monitor, config=config, client=client, max_blocks=3)
            assert client.hook is None and server.process is not None and server.process.poll() is not None
            server = EmbeddedRedis(port=server.port).start()
            net.simulate(2, seed=72 + round_, **SIM)
            scan_both(config, client, monitor, max_blocks=3)
        scan_to_head(config, client, monitor, max_blocks=5)
        live = stored()
        assert live[0] and live[1], "the simulation made no opportunity or arbitrage: nothing was tested"
        assert len(set(live[0])) == len(live[0]) and len(set(live[1])) == len(live[1])
        assert live == clean_run(net, config, client)
    finally:
        server.stop()
        client.close()


# --- kill -9 of a scanning process mid-batch -----------------------------------------------------------------

ROWS = """
import json
from opportunities.models import Opportunity
from transactions.models import ArbitrageTransaction
print(json.dumps([sorted(Opportunity.objects.values_list("pool_address", "block_number", "block_hash")),
                  sorted(ArbitrageTransaction.objects.values_list("tx_hash", "block_hash"))]))
"""

FORGET = """
from opportunities.models import Opportunity
from transactions.models import ArbitrageTransaction
Opportunity.objects.all().delete()
ArbitrageTransaction.objects.all().delete()
"""


class Site:
    """``manage.py`` commands in their own processes, on a scratch database and a private Redis."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env, self.tmp_path = env, tmp_path

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env, capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def rows(self) -> list[list[list[Any]]]:
        return json.loads(self.manage("shell", "-c", ROWS).strip().splitlines()[-1])  # type: ignore[no-any-return]

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / "backfill.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


@pytest.fixture
def site(tmp_path: Path, devnet_56_fresh: Any) -> Iterator[Site]:
    server = EmbeddedRedis().start()
    try:
        with scratch_database(tmp_path, "arbmonitor_scan_kill") as database_url:
            env = child_environ()
            env.update(
                DATABASE_URL=database_url, REDIS_URL=server.url, ARBMONITOR_VAR_DIR=str(tmp_path / "var"),
                CHAIN_REGISTRY_FILES=str(devnet_56_fresh.manifest_path),
            )  # fmt: skip
            (tmp_path / "var").mkdir()
            running = Site(env, tmp_path)
            running.manage("migrate", "--noinput", "-v0")
            yield running
    finally:
        server.stop()


def test_a_backfill_killed_9_mid_batch_then_run_again_stores_each_row_once(site: Site, devnet_56_fresh: Any) -> None:
    net = devnet_56_fresh
    net.simulate(12, seed=91, **SIM)
    start, head = int(net.manifest["deployed_at_block"]), net.block_number()
    args = ["backfill", "--chain", "56", "--from-block", str(start), "--to-block", str(head), "--kind", "all",
            "--batch-blocks", "2", "--no-progress"]  # fmt: skip
    checkpoint = redis.Redis.from_url(site.env["REDIS_URL"])
    key = f"arbmonitor:backfill:56:transactions:{start}-{head}"
    process = site.start(*args)
    try:
        deadline = time.monotonic() + TIMEOUT
        while checkpoint.get(key) is None:  # a batch committed: it is working, with more to go
            assert process.poll() is None, (site.tmp_path / "backfill.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the backfill never committed a batch"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    killed_at = int(checkpoint.get(key) or 0)
    assert killed_at < head, "the backfill finished before it was killed: nothing was tested"
    out = site.manage(*args)  # the same command again: resumes after the last committed batch
    assert "resuming after the checkpoint" in out
    after_kill = site.rows()
    assert after_kill[0] and after_kill[1], "no opportunity or arbitrage in the range: nothing was tested"

    site.manage("shell", "-c", FORGET)  # the clean run: the same blocks, from an empty store, uninterrupted
    site.manage(*args, "--restart")
    assert after_kill == site.rows()


# --- PostgreSQL restarted mid-scan ---------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def as_postgres(*command: str) -> list[str]:
    """initdb refuses root: the private cluster belongs to the postgres user."""
    if os.geteuid() != 0:
        return list(command)
    return ["runuser", "-u", "postgres", "--", *command]


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, list[str]]]:
    """A PostgreSQL cluster of this test's own (initdb + pg_ctl, a free port): its URL and its restart command."""
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) are not installed")
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _user_exists("postgres")):
        pytest.skip("running as root without runuser and a postgres user: initdb refuses root")
    workdir = Path(tempfile.mkdtemp(prefix="arbmonitor-pg-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    data = workdir / "data"
    port = free_port()
    pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data), "-w", "-t", "60"]
    # Output to /dev/null: the postmaster pg_ctl forks would hold a captured pipe open for ever.
    run = functools.partial(
        subprocess.run, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120
    )
    run(as_postgres(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"))
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(as_postgres(*pg_ctl, "-o", options, "-l", str(workdir / "log"), "start"))
    try:
        yield (
            f"postgres://postgres@127.0.0.1:{port}/postgres",
            as_postgres(*pg_ctl, "-l", str(workdir / "log"), "-m", "immediate", "restart"),
        )
    finally:
        subprocess.run(as_postgres(*pg_ctl, "-m", "immediate", "stop"), stdout=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(workdir, ignore_errors=True)


def test_postgresql_restarted_inside_write_transactions_no_partial_batch_and_rows_equal_a_clean_run(
    private_postgres: tuple[str, list[str]], tmp_path: Path, devnet_56_fresh: Any
) -> None:
    database_url, restart = private_postgres
    net = devnet_56_fresh
    net.simulate(12, seed=93, **SIM)
    server = EmbeddedRedis().start()
    try:
        env = child_environ()
        env.update(
            DATABASE_URL=database_url, REDIS_URL=server.url, ARBMONITOR_VAR_DIR=str(tmp_path / "var"),
            CHAIN_REGISTRY_FILES=str(net.manifest_path), PG_RESTART_COMMAND=" ".join(restart),
        )  # fmt: skip
        (tmp_path / "var").mkdir()
        site = Site(env, tmp_path)
        site.manage("migrate", "--noinput", "-v0")
        out = site.manage("shell", "-c", "import tests.scanning.pg_restart_scan")
        result = json.loads(out.strip().splitlines()[-1])
        faulted = [c for c in result["checks"] if c["error"] is not None]
        assert result["restarts"] >= 2 and len(faulted) == result["restarts"], result["checks"]
        # Each faulted run failed and left the cursor and the rows exactly as they were: no partial batch.
        assert all(c["unchanged"] for c in faulted), result["checks"]
        rows = result["rows"]
        assert rows[0] and rows[1], "no opportunity or arbitrage in the range: nothing was tested"

        start, head = int(net.manifest["deployed_at_block"]), net.block_number()
        site.manage("shell", "-c", FORGET)  # the clean run: the same blocks, from an empty store
        site.manage("backfill", "--chain", "56", "--from-block", str(start), "--to-block", str(head), "--kind", "all",
                    "--batch-blocks", "50", "--no-progress", "--restart")  # fmt: skip
        assert rows == site.rows()
    finally:
        server.stop()


LIVE_SCANS = """
import time
from opportunities.tasks import scan_pools
from transactions.tasks import scan_transactions
done = {"pools": False, "transactions": False}
while not all(done.values()):
    for kind, task in (("pools", scan_pools), ("transactions", scan_transactions)):
        result = task(56)  # the Celery tasks' bodies, run in this process
        if result["skipped"]:
            time.sleep(0.2)  # a killed run's lock, until it expires
            continue
        done[kind] = result["to_block"] in (None, result["head"])
        print("run", kind, result["from_block"], result["to_block"], flush=True)
print("at head", flush=True)
"""


def test_live_scans_killed_9_mid_run_then_run_again_store_each_row_once(site: Site, devnet_56_fresh: Any) -> None:
    net = devnet_56_fresh
    net.simulate(12, seed=95, **SIM)
    # A few blocks a run (many runs to kill in); a killed run's lock expires quickly.
    site.env.update(SCAN_MAX_BLOCKS_PER_RUN="3", SCAN_LOCK_TIMEOUT_SECONDS="5")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", LIVE_SCANS], cwd=BASE_DIR, env=site.env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        head = net.block_number()
        for line in process.stdout:
            words = line.split()
            # Into the simulated blocks (swaps, arbitrages), the next run has just begun: kill it while it works.
            if words[:1] == [b"run"] and words[3] != b"None" and int(words[3]) >= head - 9:
                os.killpg(process.pid, signal.SIGKILL)
                break
            assert not line.startswith(b"at head"), "the scans finished before the kill: nothing was tested"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert "at head" in site.manage("shell", "-c", LIVE_SCANS)  # run again: resumes from the cursors
    after_kill = site.rows()
    assert after_kill[0] and after_kill[1], "no opportunity or arbitrage in the range: nothing was tested"

    start = int(net.manifest["deployed_at_block"])
    site.manage("shell", "-c", FORGET)  # the clean run: the same blocks, from an empty store
    site.manage("backfill", "--chain", "56", "--from-block", str(start), "--to-block", str(head), "--kind", "all",
                "--batch-blocks", "50", "--no-progress", "--restart")  # fmt: skip
    assert after_kill == site.rows()
