"""Deploy the genuine npm bytecode of Uniswap V3, PancakeSwap V3 and Algebra on an anvil,
and drive the pools through tests/contracts' harness. Test support only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from devnet.compile import load_artifact
from devnet.rpc import Chain, create_address

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"
HARNESS_ARTIFACTS = REPO_ROOT / "tests" / "contracts" / "artifacts"

NPM_ARTIFACTS = {
    "UniswapV3Factory": "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
    "QuoterV2": "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
    "PancakeV3Factory": "@pancakeswap/v3-core/artifacts/contracts/PancakeV3Factory.sol/PancakeV3Factory.json",
    "PancakeV3Pool": "@pancakeswap/v3-core/artifacts/contracts/PancakeV3Pool.sol/PancakeV3Pool.json",
    "AlgebraFactory": "@cryptoalgebra/core/artifacts/contracts/AlgebraFactory.sol/AlgebraFactory.json",
    "AlgebraPoolDeployer": "@cryptoalgebra/core/artifacts/contracts/AlgebraPoolDeployer.sol/AlgebraPoolDeployer.json",
    "AlgebraPool": "@cryptoalgebra/core/artifacts/contracts/AlgebraPool.sol/AlgebraPool.json",
}

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
SWAP_FAILED_TOPIC = "0x" + keccak(text="SwapFailed(uint256,bytes)").hex()
ORDER_TYPE = "(bool,int256,uint160)[]"


def npm_bytecode(name: str) -> str:
    return json.loads((NODE_MODULES / NPM_ARTIFACTS[name]).read_text())["bytecode"]


def selector(signature: str) -> str:
    return keccak(text=signature)[:4].hex()


def calldata(signature: str, *args: Any) -> str:
    types = signature[signature.index("(") + 1 : -1]
    arg_types = _split_types(types)
    return "0x" + selector(signature) + encode(arg_types, list(args)).hex()


def _split_types(types: str) -> list[str]:
    out, depth, current = [], 0, ""
    for char in types:
        if char == "," and depth == 0:
            out.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if current:
        out.append(current)
    return out


@dataclass
class V3Pool:
    family: str  # "uniswap_v3" | "pancakeswap_v3" | "algebra"
    address: str
    token0: str
    token1: str
    fee: int
    tick_spacing: int
    creation_logs: list[dict[str, Any]]
    factory: str


class V3Devnet:
    """Deploys the three families' genuine contracts and a harness that pays their callbacks."""

    def __init__(self, rpc_url: str) -> None:
        self.chain = Chain(rpc_url)
        self.owner = self.chain.accounts()[0]
        self.harness = self.deploy_hex(load_artifact("V3Harness", HARNESS_ARTIFACTS)["bytecode"])
        token = load_artifact("DevToken")
        self.tokens = sorted(
            (
                self.deploy_hex(token["bytecode"], encode(["string", "string", "uint8"], [f"T{i}", f"T{i}", 18]))
                for i in range(2)
            ),
            key=lambda a: int(a, 16),
        )
        for address in self.tokens:
            self.transact(address, calldata("mint(address,uint256)", self.harness, 1 << 200))

    # ----- plumbing --------------------------------------------------------------------------------

    def transact(self, to: str | None, data: str, gas: int = 30_000_000) -> dict[str, Any]:
        tx_hash = self.chain.send(self.owner, to, data, gas=gas)
        receipt = self.chain.receipt(tx_hash)
        deadline = time.monotonic() + 60
        while receipt is None and time.monotonic() < deadline:  # automine answers before the block is in
            time.sleep(0.005)
            receipt = self.chain.receipt(tx_hash)
        if receipt is None or int(receipt["status"], 16) != 1:
            try:
                reason = self.chain.rpc("eth_call", [{"from": self.owner, "to": to, "data": data, "gas": hex(gas)}])
            except Exception as exc:  # the revert reason, for the failure message
                reason = str(exc)
            raise RuntimeError(f"transaction to {to} failed ({reason}): {receipt}")
        return receipt

    def deploy_hex(self, bytecode: str, args: bytes = b"") -> str:
        receipt = self.transact(None, bytecode + args.hex())
        return to_checksum_address(receipt["contractAddress"])

    def call(self, to: str, signature: str, out_types: list[str], *args: Any) -> tuple[Any, ...]:
        return tuple(decode(out_types, self.chain.call(to, calldata(signature, *args))))

    # ----- families --------------------------------------------------------------------------------

    def uniswap_pool(self, fee: int, sqrt_price_x96: int) -> V3Pool:
        factory = self.deploy_hex(npm_bytecode("UniswapV3Factory"))
        receipt = self.transact(factory, calldata("createPool(address,address,uint24)", *self.tokens, fee))
        return self._initialized("uniswap_v3", factory, receipt, fee, sqrt_price_x96)

    def pancake_pool(self, fee: int, sqrt_price_x96: int) -> V3Pool:
        deployer = self.deploy_hex(load_artifact("PancakePoolDeployer", HARNESS_ARTIFACTS)["bytecode"])
        factory = self.deploy_hex(npm_bytecode("PancakeV3Factory"), encode(["address"], [deployer]))
        pool_code = bytes.fromhex(npm_bytecode("PancakeV3Pool")[2:])
        self.transact(deployer, calldata("setup(address,bytes)", factory, pool_code), gas=60_000_000)
        receipt = self.transact(factory, calldata("createPool(address,address,uint24)", *self.tokens, fee))
        return self._initialized("pancakeswap_v3", factory, receipt, fee, sqrt_price_x96)

    def algebra_pool(self, sqrt_price_x96: int) -> V3Pool:
        # The deployer takes the factory's address and the factory the deployer's: predict it.
        nonce = self.chain.nonce(self.owner)
        factory_address = create_address(self.owner, nonce + 1)
        deployer = self.deploy_hex(
            npm_bytecode("AlgebraPoolDeployer"), encode(["address", "address"], [factory_address, self.owner])
        )
        factory = self.deploy_hex(npm_bytecode("AlgebraFactory"), encode(["address"], [deployer]))
        assert factory == factory_address
        receipt = self.transact(factory, calldata("createPool(address,address)", *self.tokens))
        return self._initialized("algebra", factory, receipt, 0, sqrt_price_x96)

    def _initialized(self, family: str, factory: str, receipt: dict[str, Any], fee: int, sqrt_price_x96: int) -> V3Pool:
        created = [log for log in receipt["logs"] if log["address"].lower() == factory.lower()]
        pool_word = bytes.fromhex(created[-1]["data"][2:])[-32:]
        pool = to_checksum_address(pool_word[-20:])
        init = self.transact(pool, calldata("initialize(uint160)", sqrt_price_x96))
        (spacing,) = self.call(pool, "tickSpacing()", ["int24"])
        return V3Pool(family, pool, self.tokens[0], self.tokens[1], fee, spacing, created + init["logs"], factory)

    # ----- actions through the harness --------------------------------------------------------------

    def mint(self, pool: V3Pool, lower: int, upper: int, amount: int) -> dict[str, Any]:
        data = calldata(
            "mint(address,bool,int24,int24,uint128)", pool.address, pool.family == "algebra", lower, upper, amount
        )
        return self.transact(self.harness, data)

    def burn(self, pool: V3Pool, lower: int, upper: int, amount: int) -> dict[str, Any]:
        return self.transact(
            self.harness, calldata("burn(address,int24,int24,uint128)", pool.address, lower, upper, amount)
        )

    def swaps(self, pool: V3Pool, orders: list[tuple[bool, int, int]]) -> dict[str, Any]:
        return self.transact(
            self.harness, calldata(f"swaps(address,{ORDER_TYPE})", pool.address, orders), gas=100_000_000
        )

    def pool_state(self, pool: V3Pool) -> tuple[int, int, int]:
        """(sqrtPriceX96, tick, liquidity) as the pool reports them; plus Algebra's fee via pool_fee."""
        signature = "globalState()" if pool.family == "algebra" else "slot0()"
        price, tick = self.call(pool.address, signature, ["uint160", "int24"])
        (liquidity,) = self.call(pool.address, "liquidity()", ["uint128"])
        return price, tick, liquidity

    def algebra_fee(self, pool: V3Pool) -> int:
        (_, _, _, fee) = self.call(pool.address, "globalState()", ["uint160", "int24", "int24", "uint16"])
        return fee

    def tick_net(self, pool: V3Pool, tick: int) -> tuple[int, int]:
        gross, net = self.call(pool.address, "ticks(int24)", ["uint128", "int128"], tick)
        return gross, net

    def quoter(self, pool: V3Pool) -> str:
        """A genuine QuoterV2 (@uniswap/v3-periphery 1.4.4) on the pool's factory. It finds pools by
        the canonical init code hash, which the npm UniswapV3Pool bytecode has."""
        return self.deploy_hex(npm_bytecode("QuoterV2"), encode(["address", "address"], [pool.factory, self.tokens[0]]))

    def quote(
        self, quoter: str, pool: V3Pool, zero_for_one: bool, amount_specified: int, limit: int
    ) -> tuple[int, int]:
        """(amountIn, amountOut) QuoterV2 reports for the same swap (limit 0 = none)."""
        token_in, token_out = (pool.token0, pool.token1) if zero_for_one else (pool.token1, pool.token0)
        if amount_specified > 0:
            signature = "quoteExactInputSingle((address,address,uint256,uint24,uint160))"
            (out, *_rest) = self.call(
                quoter, signature, ["uint256"], (token_in, token_out, amount_specified, pool.fee, limit)
            )
            return amount_specified, out
        signature = "quoteExactOutputSingle((address,address,uint256,uint24,uint160))"
        (amount_in, *_rest) = self.call(
            quoter, signature, ["uint256"], (token_in, token_out, -amount_specified, pool.fee, limit)
        )
        return amount_in, -amount_specified

    def increase_time(self, seconds: int) -> None:
        self.chain.rpc("evm_increaseTime", [seconds])
