"""Local EVM chains (anvil) with real V2-style DEX contracts, a seeded market
simulator and the ground truth of every arbitrage it produced.

Everything chain-related in ArbMonitor is tested here, because no public RPC
is reachable from the build machines.
"""

from __future__ import annotations

from pathlib import Path

DEVNET_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEVNET_DIR.parent
ARTIFACTS_DIR = DEVNET_DIR / "artifacts"
CONTRACTS_DIR = DEVNET_DIR / "contracts"
MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
