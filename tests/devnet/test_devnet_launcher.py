"""anvil is started and always stopped; missing anvil gives a clear error."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import devnet.anvil as anvil_mod
from devnet.anvil import AnvilNotInstalledError, AnvilProcess
from devnet.blocktimer import BlockTimer
from devnet.pytest_plugin import Devnet, devnet_session
from devnet.rpc import Chain


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie would still answer kill(0); stop() reaps, so check the state too
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_session_starts_and_stops_anvil(tmp_path: Path) -> None:
    with devnet_session(137, tmp_path) as net:
        pid = net.anvil.pid
        assert pid is not None and _alive(pid)
        assert net.w3.eth.chain_id == 137
        before = net.block_number()
        net.mine(5)
        assert net.block_number() == before + 5
    assert not _alive(pid)
    assert not net.anvil.is_running()


def test_anvil_is_stopped_when_the_body_raises(tmp_path: Path) -> None:
    node = AnvilProcess(chain_id=56, log_path=tmp_path / "a.log")
    with pytest.raises(KeyboardInterrupt), node:
        pid = node.pid
        raise KeyboardInterrupt
    assert pid is not None and not _alive(pid)


def test_fast_mode_mines_only_on_request(devnet_56_fresh: Devnet) -> None:
    net = devnet_56_fresh
    start = net.block_number()
    trader = net.manifest["accounts"]["transferer"]
    net.w3.eth.send_transaction({"from": trader, "to": trader, "value": 1, "gas": 21000, "gasPrice": 10**9})
    assert net.block_number() == start
    net.mine()
    assert net.block_number() == start + 1


def test_snapshot_and_revert_restore_state(devnet_137: Devnet) -> None:
    net = devnet_137
    snap = net.snapshot()
    start = net.block_number()
    net.mine(3)
    net.revert(snap)
    assert net.block_number() == start


def test_missing_anvil_says_run_npm_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ANVIL_BIN", raising=False)
    monkeypatch.setattr(anvil_mod, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(anvil_mod.shutil, "which", lambda _name: None)
    with pytest.raises(AnvilNotInstalledError, match="npm ci"):
        anvil_mod.anvil_binary()


def test_block_timer_mines_on_its_clock_until_stopped(tmp_path: Path) -> None:
    """Fractional block times (evm_setIntervalMining takes whole seconds): evm_mine on a clock."""
    with AnvilProcess(chain_id=56, log_path=tmp_path / "a.log") as node:
        chain = Chain(node.rpc_url)
        start = chain.block_number()
        account = chain.accounts()[0]
        timer = BlockTimer(node.rpc_url, 0.2).start()
        try:
            tx = chain.send(account, account, value=1, gas=21_000)
            deadline = time.monotonic() + 30
            while (chain.block_number() < start + 3 or chain.receipt(tx) is None) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert chain.block_number() >= start + 3
            assert chain.receipt(tx) is not None  # pending transactions go into the timer's blocks
        finally:
            timer.stop()
        stopped_at = chain.block_number()
        assert not timer._thread.is_alive()
        assert chain.rpc("anvil_getAutomine") is False
        chain.rpc("evm_mine")
        assert chain.block_number() == stopped_at + 1  # nobody else mines after stop()
        assert timer.intervals and timer.errors == 0
