"""Shared by the devnet tests of the transaction monitor."""

from __future__ import annotations

from typing import Any

from chains.clients import chain_client_new
from chains.config import ChainConfig, chain_config_parse
from chains.services import chain_registry_sync
from devnet.pytest_plugin import Devnet
from evm.rpc import ChainClient
from transactions.monitor import ArbitrageMonitor


def devnet_config(net: Devnet, *, start_block: int | None = None, drop_pools: int = 0) -> ChainConfig:
    """The devnet manifest as a registry entry; ``drop_pools`` leaves the last pools out (unknown to us)."""
    manifest: dict[str, Any] = dict(net.manifest)
    if start_block is not None:
        manifest["scan_start_block"] = start_block
    if drop_pools:
        manifest["pools"] = manifest["pools"][:-drop_pools]
    return chain_config_parse(manifest, source="devnet", environ={})


def devnet_setup(net: Devnet, **kwargs: Any) -> tuple[ChainConfig, ChainClient, ArbitrageMonitor]:
    config = devnet_config(net, **kwargs)
    chain_registry_sync(config=config)
    client = chain_client_new(config)
    return config, client, ArbitrageMonitor(config=config, client=client)


def simulate(net: Devnet, blocks: int, *, seed: int, **sim_config: Any) -> list[dict[str, Any]]:
    """``Devnet.simulate`` in fast mode, re-reading nonces after every block.

    Works around an anvil behaviour (``--order fees``): when one sender's later
    nonce bids more than its earlier one, anvil drops the earlier transaction,
    the simulator's local nonces then leave a gap and every later transaction
    of that sender waits in the queue forever. Reported to the devnet owner.
    """
    from devnet.simulator import read_truth

    with net.simulator(seed, **sim_config) as sim:
        for _ in range(blocks):
            sim.step()
            sim.chain.mine()
            sim.resolve_pending()
            sim.chain.reset_nonces()
        sim.resolve_pending()
        sim.close()
        return read_truth(sim.truth_path)
