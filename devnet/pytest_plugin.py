"""Pytest plugin: session-scoped devnet chains in fast mode.

Register with `pytest_plugins = ["devnet.pytest_plugin"]`. Each chain is
started and deployed once per session (about a second); tests isolate
themselves with snapshot()/revert() or the function-scoped `*_fresh`
fixtures, which revert whatever the test did.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from devnet.anvil import AnvilProcess
from devnet.deploy import deploy, set_mining
from devnet.rpc import Chain
from devnet.simulator import SimConfig, SimStats, Simulator, read_truth


@dataclass
class SimulationResult:
    stats: SimStats
    truth: list[dict[str, Any]]
    truth_path: Path


@dataclass
class Devnet:
    """A running, deployed devnet chain (fast mode: blocks only via mine())."""

    anvil: AnvilProcess
    manifest: dict[str, Any]
    manifest_path: Path
    workdir: Path
    chain: Chain = field(init=False)

    def __post_init__(self) -> None:
        self.chain = Chain(self.rpc_url)

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    @property
    def chain_id(self) -> int:
        return int(self.manifest["chain_id"])

    @property
    def w3(self) -> Web3:
        return self.chain.w3

    def snapshot(self) -> str:
        """evm_snapshot id. anvil forgets a snapshot once reverted to."""
        return self.chain.snapshot()

    def revert(self, snapshot_id: str) -> None:
        if not self.chain.revert(snapshot_id):
            raise RuntimeError(f"evm_revert({snapshot_id}) failed (already used?)")

    def mine(self, n: int = 1) -> None:
        self.chain.mine(n)

    def block_number(self) -> int:
        return self.chain.block_number()

    def simulator(self, seed: int = 1, truth_path: Path | None = None, **config: Any) -> Simulator:
        path = truth_path or self.workdir / f"truth-{self.chain_id}-seed{seed}.jsonl"
        return Simulator(self.rpc_url, self.manifest, SimConfig(seed=seed, truth_path=path, **config))

    def simulate(self, blocks: int, seed: int = 1, truth_path: Path | None = None, **config: Any) -> SimulationResult:
        """Run the market simulator for `blocks` blocks; returns stats and truth lines."""
        with self.simulator(seed, truth_path, **config) as sim:
            stats = sim.simulate_blocks(blocks)
        return SimulationResult(stats, read_truth(sim.truth_path), sim.truth_path)


@contextlib.contextmanager
def devnet_session(chain_id: int, workdir: Path, port: int | None = None) -> Iterator[Devnet]:
    """Start anvil (fast mode), deploy, yield a Devnet; always stop anvil."""
    workdir.mkdir(parents=True, exist_ok=True)
    node = AnvilProcess(chain_id=chain_id, port=port, log_path=workdir / f"anvil-{chain_id}.log")
    node.start()
    try:
        manifest_path = workdir / f"chain-{chain_id}.json"
        manifest = deploy(node.rpc_url, manifest_path=manifest_path)
        set_mining(Chain(node.rpc_url), None)
        yield Devnet(node, manifest, manifest_path, workdir)
    finally:
        node.stop()


@pytest.fixture(scope="session")
def devnet_56(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """BSC-shaped devnet (chain 56), deployed once per session."""
    with devnet_session(56, tmp_path_factory.mktemp("devnet56")) as net:
        yield net


@pytest.fixture(scope="session")
def devnet_137(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """Polygon-shaped devnet (chain 137), deployed once per session."""
    with devnet_session(137, tmp_path_factory.mktemp("devnet137")) as net:
        yield net


def _fresh(net: Devnet) -> Iterator[Devnet]:
    snap = net.snapshot()
    try:
        yield net
    finally:
        net.revert(snap)


@pytest.fixture
def devnet_56_fresh(devnet_56: Devnet) -> Iterator[Devnet]:
    """devnet_56, with everything the test does reverted afterwards."""
    yield from _fresh(devnet_56)


@pytest.fixture
def devnet_137_fresh(devnet_137: Devnet) -> Iterator[Devnet]:
    """devnet_137, with everything the test does reverted afterwards."""
    yield from _fresh(devnet_137)
