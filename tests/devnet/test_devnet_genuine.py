"""The devnet runs the DEXes' own bytecode from npm, at the addresses their factories compute."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from devnet.deploy import cl_pool_address, pair_address
from devnet.genuine import GENUINE, gabi, genuine_artifact, immutable_slots, init_code_hash, runtime_matches
from devnet.markets import ALGEBRA, PANCAKESWAP_V3, UNISWAP_V3, market_for
from devnet.pytest_plugin import Devnet
from devnet.rpc import abi

# Mainnet init code hashes (the constants in the DEXes' periphery libraries).
UNISWAP_V2_PAIR_HASH = "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
UNISWAP_V3_POOL_HASH = "e34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"
PANCAKE_V3_POOL_HASH = "6ce8eb472fa82df5469c6ab6d485f17c3ad13c8cd7af59b3d4a8026c5ce0f7e2"
V3_SWAP_TOPIC = "0x" + keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)").hex()
PANCAKE_SWAP_TOPIC = (
    "0x" + keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24,uint128,uint128)").hex()
)


def _code(net: Devnet, address: str) -> str:
    return str(net.chain.rpc("eth_getCode", [address, "latest"]))


def _known_values(net: Devnet) -> set[int]:
    """Every value an immutable may legitimately hold on this devnet: addresses
    of the manifest, fee tiers, tick spacings, per-pool maxLiquidityPerTick."""
    m = net.manifest
    values: set[int] = set()

    def walk(x: Any) -> None:
        if isinstance(x, str) and x.startswith("0x") and len(x) == 42:
            values.add(int(x, 16))
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(m)
    values |= {100, 500, 2500, 3000, 10000, 1, 10, 50, 60, 200}
    for p in m["cl_pools"]:
        if p["family"] != ALGEBRA:
            raw = net.chain.call(p["address"], gabi("UniswapV3Pool").maxLiquidityPerTick.encode())
            values.add(int.from_bytes(raw, "big"))
    return values


def _genuine_contracts(net: Devnet) -> list[tuple[str, str]]:
    """(contract name, address) of every genuine contract deployed on `net`."""
    m = net.manifest
    out = []
    for d in m["dexes"]:
        if d["genuine"]:
            out.append(("UniswapV2Factory", d["factory"]))
            out += [("UniswapV2Pair", p["address"]) for p in m["pools"] if p["dex"] == d["name"]]
    for d in m["cl_dexes"]:
        pools = [p["address"] for p in m["cl_pools"] if p["dex"] == d["name"]]
        if d["family"] == UNISWAP_V3:
            out += [("UniswapV3Factory", d["factory"]), ("SwapRouter", d["router"]), ("QuoterV2", d["quoter"])]
            out += [("UniswapV3Pool", p) for p in pools]
        elif d["family"] == PANCAKESWAP_V3:
            out += [("PancakeV3Factory", d["factory"])] + [("PancakeV3Pool", p) for p in pools]
        else:
            vault = net.chain.call(d["factory"], gabi("AlgebraFactory").communityVault.encode())
            assert "0x" + vault[-20:].hex() == d["community_vault"].lower()
            out += [("AlgebraFactory", d["factory"]), ("AlgebraPoolDeployer", d["pool_deployer"])]
            out += [("AlgebraPool", p) for p in pools]
            for p in pools:
                raw = net.chain.call(p, gabi("AlgebraPool").dataStorageOperator.encode())
                out.append(("DataStorageOperator", "0x" + raw[-20:].hex()))
    return out


@pytest.mark.parametrize("chain_id", [56, 137])
def test_deployed_code_is_the_packages_runtime_bytecode(chain_id: int, request: pytest.FixtureRequest) -> None:
    net: Devnet = request.getfixturevalue(f"devnet_{chain_id}")
    contracts = _genuine_contracts(net)
    known = _known_values(net) | {int(address, 16) for _, address in contracts}  # + Algebra's DataStorageOperators
    names = {name for name, _ in contracts}
    expected = (
        {"PancakeV3Factory", "PancakeV3Pool"}
        if chain_id == 56
        else set(GENUINE) - {"PancakeV3Factory", "PancakeV3Pool"}
    )
    assert names == expected
    for name, address in contracts:
        ok, why = runtime_matches(_code(net, address), genuine_artifact(name)["deployedBytecode"], known)
        assert ok, f"{name} at {address}: {why}"


def test_a_tampered_runtime_is_told_apart() -> None:
    deployed = genuine_artifact("UniswapV3Pool")["deployedBytecode"]
    a, b = immutable_slots(deployed)[0]
    foreign = deployed[: 2 + 2 * a] + "ab" * 32 + deployed[2 + 2 * b :]
    assert runtime_matches(foreign, deployed, {1})[0] is False
    flipped = deployed[:-2] + ("00" if deployed[-2:] != "00" else "01")
    assert runtime_matches(flipped, deployed, set())[0] is False
    assert runtime_matches(deployed, deployed, set())[0] is True


def test_init_code_hashes_are_the_mainnet_ones() -> None:
    assert init_code_hash("UniswapV2Pair").hex() == UNISWAP_V2_PAIR_HASH
    assert init_code_hash("UniswapV3Pool").hex() == UNISWAP_V3_POOL_HASH
    assert init_code_hash("PancakeV3Pool").hex() == PANCAKE_V3_POOL_HASH


@pytest.mark.parametrize("chain_id", [56, 137])
def test_pool_addresses_follow_from_the_genuine_init_code(chain_id: int, request: pytest.FixtureRequest) -> None:
    net: Devnet = request.getfixturevalue(f"devnet_{chain_id}")
    m = net.manifest
    dexes = {d["name"]: d for d in m["dexes"]}
    for p in m["pools"]:
        d = dexes[p["dex"]]
        assert pair_address(d["factory"], p["token0"], p["token1"], genuine=d["genuine"]) == p["address"]
        raw = net.chain.call(d["factory"], abi("V2Factory").getPair.encode(p["token0"], p["token1"]))
        assert "0x" + raw[-20:].hex() == p["address"].lower()
    cl = {d["name"]: d for d in m["cl_dexes"]}
    for p in m["cl_pools"]:
        d = cl[p["dex"]]
        assert cl_pool_address(p["family"], d["pool_deployer"], p["token0"], p["token1"], p["fee"] or 0) == p["address"]
        if p["family"] == ALGEBRA:
            raw = net.chain.call(d["factory"], gabi("AlgebraFactory").poolByPair.encode(p["token0"], p["token1"]))
        else:
            raw = net.chain.call(
                d["factory"], gabi("UniswapV3Factory").getPool.encode(p["token0"], p["token1"], p["fee"])
            )
        assert "0x" + raw[-20:].hex() == p["address"].lower()
        assert len(p["positions"]) >= 3


def _tick(net: Devnet, pool: dict[str, Any]) -> int:
    name = {ALGEBRA: "AlgebraPool", UNISWAP_V3: "UniswapV3Pool", PANCAKESWAP_V3: "PancakeV3Pool"}[pool["family"]]
    fn = gabi(name).globalState if pool["family"] == ALGEBRA else gabi(name).slot0
    return int(fn.decode(net.chain.call(pool["address"], fn.encode()))[1])


@pytest.mark.parametrize("chain_id", [56, 137])
def test_a_large_swap_crosses_initialized_ticks(chain_id: int, request: pytest.FixtureRequest) -> None:
    net: Devnet = request.getfixturevalue(f"devnet_{chain_id}_fresh")
    m = net.manifest
    trader = m["accounts"]["traders"][0]
    decimals = {t["address"]: t["decimals"] for t in m["tokens"]}
    usd = {t["address"]: t["usd_price"] for t in m["tokens"]}
    specs = market_for(chain_id).cl_pools
    for family in {p["family"] for p in m["cl_pools"]}:
        i, pool = next((i, p) for i, p in enumerate(m["cl_pools"]) if p["family"] == family)
        depth_usd = specs[i].depth_usd
        narrowest = min(pool["positions"], key=lambda x: x[1] - x[0])
        before = _tick(net, pool)
        assert narrowest[0] <= before < narrowest[1]
        token0 = pool["token0"]
        amount = int(depth_usd / 2 / usd[token0] * 10 ** decimals[token0])  # far past the narrowest position
        data = abi("V3Helper").swapExactIn.encode(pool["address"], True, amount, 0, trader)
        tx = net.chain.send(trader, m["v3_helper"], data, gas=3_000_000)
        net.mine()
        receipt = net.chain.receipt(tx)
        assert receipt is not None and int(receipt["status"], 16) == 1, family
        topic = PANCAKE_SWAP_TOPIC if family == PANCAKESWAP_V3 else V3_SWAP_TOPIC
        assert [lg["topics"][0] for lg in receipt["logs"] if lg["address"].lower() == pool["address"].lower()] == [
            topic
        ]
        after = _tick(net, pool)
        assert after < narrowest[0], (family, before, after, narrowest)
