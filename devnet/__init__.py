"""Local EVM chains (anvil) running the DEXes' own bytecode (Uniswap V2/V3,
PancakeSwap V3, Algebra, from npm; our V2 forks for odd fees), a seeded market
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

# topic0 of the canonical Uniswap V2 / ERC20 events (keccak of the signatures, as on BscScan/Polygonscan);
# tests check that our contracts' ABIs and logs produce exactly these.
CANONICAL_TOPICS = {
    "Transfer": "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
    "Sync": "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1",
    "Swap": "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822",
    "PairCreated": "0x0d3648bd0f6ba80134a33ba9275ac585d9d315f0ad8355cddefde31afa28d0e9",
}
