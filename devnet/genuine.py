"""The DEXes' own compiled contracts, loaded from their npm packages.

package.json / package-lock.json pin the packages; `npm ci` puts them in
node_modules. Nothing here is compiled by us: the creation code deployed on the
devnet is the package's `bytecode`, and tests/devnet/test_devnet_genuine.py
checks that what runs on chain is the package's `deployedBytecode` (immutables
aside).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_utils import keccak

from devnet import REPO_ROOT
from devnet.rpc import Abi


@dataclass(frozen=True)
class GenuineContract:
    name: str
    package: str
    path: str  # inside the package


GENUINE: dict[str, GenuineContract] = {
    c.name: c
    for c in (
        GenuineContract("UniswapV2Factory", "@uniswap/v2-core", "build/UniswapV2Factory.json"),
        GenuineContract("UniswapV2Pair", "@uniswap/v2-core", "build/UniswapV2Pair.json"),
        GenuineContract(
            "UniswapV3Factory", "@uniswap/v3-core", "artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json"
        ),
        GenuineContract(
            "UniswapV3Pool", "@uniswap/v3-core", "artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json"
        ),
        GenuineContract("SwapRouter", "@uniswap/v3-periphery", "artifacts/contracts/SwapRouter.sol/SwapRouter.json"),
        GenuineContract("QuoterV2", "@uniswap/v3-periphery", "artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json"),
        GenuineContract(
            "PancakeV3Factory", "@pancakeswap/v3-core", "artifacts/contracts/PancakeV3Factory.sol/PancakeV3Factory.json"
        ),
        GenuineContract(
            "PancakeV3Pool", "@pancakeswap/v3-core", "artifacts/contracts/PancakeV3Pool.sol/PancakeV3Pool.json"
        ),
        GenuineContract(
            "AlgebraFactory", "@cryptoalgebra/core", "artifacts/contracts/AlgebraFactory.sol/AlgebraFactory.json"
        ),
        GenuineContract(
            "AlgebraPoolDeployer",
            "@cryptoalgebra/core",
            "artifacts/contracts/AlgebraPoolDeployer.sol/AlgebraPoolDeployer.json",
        ),
        GenuineContract("AlgebraPool", "@cryptoalgebra/core", "artifacts/contracts/AlgebraPool.sol/AlgebraPool.json"),
        GenuineContract(
            "DataStorageOperator",
            "@cryptoalgebra/core",
            "artifacts/contracts/DataStorageOperator.sol/DataStorageOperator.json",
        ),
    )
}


class GenuineMissingError(RuntimeError):
    """The npm package is not installed."""


@cache
def genuine_artifact(name: str) -> dict[str, Any]:
    """abi, bytecode and deployedBytecode of a genuine contract (0x-prefixed hex).

    Uniswap V2's build/ files are solc standard output (evm.bytecode.object);
    the hardhat artifacts of the others have top-level bytecode fields."""
    c = GENUINE[name]
    path = REPO_ROOT / "node_modules" / c.package / c.path
    if not path.exists():
        raise GenuineMissingError(f"{path} is missing: run `npm ci` at the repository root")
    raw = json.loads(path.read_text())
    if "evm" in raw:
        bytecode = raw["evm"]["bytecode"]["object"]
        deployed = raw["evm"]["deployedBytecode"]["object"]
    else:
        bytecode, deployed = raw["bytecode"], raw["deployedBytecode"]
    if raw.get("linkReferences") or raw.get("deployedLinkReferences"):
        raise GenuineMissingError(f"{name} needs linked libraries; not supported")

    def hx(s: str) -> str:
        return s if s.startswith("0x") else "0x" + s

    return {"abi": raw["abi"], "bytecode": hx(bytecode), "deployedBytecode": hx(deployed)}


def init_code_hash(name: str) -> bytes:
    """keccak256 of the creation code: what CREATE2 addresses are derived from."""
    return keccak(bytes.fromhex(genuine_artifact(name)["bytecode"][2:]))


class GenuineAbi(Abi):
    """devnet.rpc.Abi over a genuine npm artifact instead of our compiled one."""

    def __init__(self, contract_name: str) -> None:
        super().__init__(contract_name, genuine_artifact(contract_name))


@cache
def gabi(name: str) -> GenuineAbi:
    """Cached GenuineAbi per contract name."""
    return GenuineAbi(name)


def immutable_slots(deployed_hex: str) -> list[tuple[int, int]]:
    """(start, end) byte ranges of PUSH32 operands that are all zero in the
    runtime code: where solc leaves room for immutables, filled at deployment."""
    code = bytes.fromhex(deployed_hex[2:])
    out = []
    i = 0
    while i < len(code):
        op = code[i]
        if 0x60 <= op <= 0x7F:
            n = op - 0x5F
            if op == 0x7F and code[i + 1 : i + 33] == bytes(32):
                out.append((i + 1, i + 33))
            i += 1 + n
        else:
            i += 1
    return out


def runtime_matches(on_chain_hex: str, artifact_deployed_hex: str, immutables: set[int]) -> tuple[bool, str]:
    """Whether on-chain runtime code is the artifact's, with each immutable
    placeholder either still zero or holding one of the expected values.
    Returns (ok, reason)."""
    chain = bytes.fromhex(on_chain_hex[2:])
    art = bytes.fromhex(artifact_deployed_hex[2:])
    if len(chain) != len(art):
        return False, f"length {len(chain)} != {len(art)}"
    slots = immutable_slots(artifact_deployed_hex)
    masked = bytearray(chain)
    for a, b in slots:
        value = int.from_bytes(chain[a:b], "big")
        # Signed immutables (int24 tick spacing) are sign-extended words.
        if value != 0 and value not in immutables and value - 2**256 not in immutables:
            return False, f"immutable at {a} holds unexpected {value:#x}"
        masked[a:b] = bytes(32)
    if bytes(masked) != art:
        first = next(i for i, (x, y) in enumerate(zip(masked, art, strict=True)) if x != y)
        return False, f"code differs at byte {first}"
    return True, f"{len(slots)} immutable slots"
