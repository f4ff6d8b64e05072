"""``manage.py backfill``: errors, resume, Ctrl-C, overlap with the live scanner (devnet)."""

from __future__ import annotations

import os
import random
import signal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from devnet.pytest_plugin import Devnet
from scanning.loop import redis_client, scan_run
from scanning.management.commands.backfill import checkpoint_key
from tests.transactions.devnet_helpers import devnet_setup, simulate
from transactions.models import ArbitrageTransaction
from transactions.monitor import ArbitrageMonitor

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def chain_56(devnet_56_fresh: Devnet, settings: Any, scan_redis_clean: None) -> Any:
    """A devnet with 60 simulated blocks, registered as chain 56; yields (net, first, last, truth hashes)."""
    net = devnet_56_fresh
    settings.CHAIN_REGISTRY_FILES = [str(net.manifest_path)]
    first = net.block_number() + 1
    truth = simulate(net, 60, seed=21)
    last = net.block_number()
    devnet_setup(net)
    arbs = {line["tx_hash"].lower() for line in truth if line["kind"] == "arbitrage"}
    assert arbs
    for key in redis_client().scan_iter("arbmonitor:backfill:*"):
        redis_client().delete(key)
    return net, first, last, arbs


def backfill(*args: Any) -> str:
    out = StringIO()
    call_command("backfill", *[str(a) for a in args], "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def stored() -> set[str]:
    """The profitable arbitrages stored (losing router round trips are stored too, as losses)."""
    return set(ArbitrageTransaction.objects.filter(outcome="profit").values_list("tx_hash", flat=True))


def test_clear_errors_for_a_bad_chain_or_range(chain_56: Any) -> None:
    _net, first, last, _ = chain_56
    with pytest.raises(CommandError, match="chain 999 is not in the chain registry"):
        backfill("--chain", 999, "--from-block", 1, "--to-block", 2)
    with pytest.raises(CommandError, match="before --from-block"):
        backfill("--chain", 56, "--from-block", last, "--to-block", first)
    with pytest.raises(CommandError, match="beyond the chain head"):
        backfill("--chain", 56, "--from-block", first, "--to-block", last + 1000)
    with pytest.raises(CommandError, match=">= 0"):
        backfill("--chain", 56, "--from-block", -5, "--to-block", first)


def test_backfill_finds_every_arbitrage_then_a_second_run_skips_the_range(chain_56: Any) -> None:
    _net, first, last, arbs = chain_56
    out = backfill("--chain", 56, "--from-block", first, "--to-block", last, "--batch-blocks", 25)
    assert "backfilled" in out and "blocks/s" in out
    assert stored() == arbs
    assert redis_client().get(checkpoint_key(56, "transactions", first, last)) == str(last).encode()
    again = backfill("--chain", 56, "--from-block", first, "--to-block", last)
    assert "already backfilled" in again
    assert stored() == arbs


def test_ctrl_c_commits_whole_batches_and_the_next_run_resumes(chain_56: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _net, first, last, arbs = chain_56
    calls = {"n": 0}
    real_write = ArbitrageMonitor.write

    def write_then_ctrl_c(self: ArbitrageMonitor, batch: Any, priced: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives mid-batch
        return real_write(self, batch, priced)

    monkeypatch.setattr(ArbitrageMonitor, "write", write_then_ctrl_c)
    out = backfill("--chain", 56, "--from-block", first, "--to-block", last, "--batch-blocks", 20)
    assert "stopped" in out
    assert calls["n"] == 2  # the batch in flight finished; no third batch started
    committed = first + 40 - 1
    assert redis_client().get(checkpoint_key(56, "transactions", first, last)) == str(committed).encode()
    rows = ArbitrageTransaction.objects.all()
    assert rows.exists() and all(tx.block_number <= committed for tx in rows)
    assert signal.getsignal(signal.SIGINT) is not None  # handlers restored

    monkeypatch.setattr(ArbitrageMonitor, "write", real_write)
    resumed = backfill("--chain", 56, "--from-block", first, "--to-block", last, "--batch-blocks", 20)
    assert f"resuming after the checkpoint: block {committed + 1}" in resumed
    assert stored() == arbs


def test_backfill_overlapping_the_live_scanner_stores_nothing_twice(chain_56: Any) -> None:
    net, first, last, arbs = chain_56
    config, client, monitor = devnet_setup(net)
    middle = (first + last) // 2
    # The live scanner has done the first half when a backfill of everything starts, then catches up.
    backfill("--chain", 56, "--from-block", first, "--to-block", middle, "--batch-blocks", 7)
    report = scan_run(56, monitor, to_block=last, max_blocks=last + 1, config=config, client=client)
    assert report.to_block == last
    backfill("--chain", 56, "--from-block", first, "--to-block", last, "--batch-blocks", 13)
    assert ArbitrageTransaction.objects.filter(outcome="profit").count() == len(arbs)
    assert stored() == arbs


def test_a_batch_that_fails_on_a_flaky_node_is_retried(
    chain_56: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Issue 11 #7: one request's retries span seconds; a flaky node made every run fail on some batch."""
    from tests.chains.faulty_rpc import FaultyRpc

    net, first, last, arbs = chain_56
    proxy = FaultyRpc(net.rpc_url).start()
    try:
        monkeypatch.setenv("CHAIN_56_RPC_URLS", proxy.url)
        settings.RPC_MAX_RETRIES = 1  # a request survives one fault, not two in a row: batches still fail
        settings.RPC_BACKOFF_BASE_SECONDS = 0.01
        settings.BACKFILL_BATCH_RETRIES = 5
        proxy.set("refuse", fail_rate=0.3, rng=random.Random(7))
        out = backfill("--chain", 56, "--from-block", first, "--to-block", last, "--batch-blocks", 10)
        assert proxy.faults >= 2  # the node did fail, several batches were hit
    finally:
        proxy.stop()
    assert f"blocks {first}-{last} backfilled" in out
    assert stored() == arbs
