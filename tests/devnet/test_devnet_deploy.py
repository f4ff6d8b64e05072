"""Both devnet chains deploy the configured market and answer like mainnet."""

from __future__ import annotations

import pytest
from eth_abi import decode
from eth_utils import is_checksum_address

from devnet import CANONICAL_TOPICS as CANONICAL
from devnet import MULTICALL3_ADDRESS
from devnet.markets import V2, market_for, pool_amounts
from devnet.pytest_plugin import Devnet
from devnet.rpc import abi

REQUIRED_KEYS = {
    "chain_id", "name", "native_symbol", "block_time", "explorer_url", "rpc_urls", "ws_urls", "log_source",
    "multicall3", "wrapped_native", "stable_tokens", "base_tokens", "tokens", "dexes", "pools", "executor",
    "deployed_at_block",
}  # fmt: skip


@pytest.fixture(params=[56, 137])
def net(request: pytest.FixtureRequest) -> Devnet:
    return request.getfixturevalue(f"devnet_{request.param}")


def _uint(net: Devnet, to: str, data: str) -> int:
    return int.from_bytes(net.chain.call(to, data)[:32], "big")


def test_manifest_follows_the_registry_schema(net: Devnet) -> None:
    m = net.manifest
    assert set(m) >= REQUIRED_KEYS
    assert m["chain_id"] == net.chain_id == net.w3.eth.chain_id
    assert m["rpc_urls"] == [net.rpc_url] and m["ws_urls"][0].startswith("ws://")
    assert m["multicall3"] == MULTICALL3_ADDRESS
    addresses = [m["wrapped_native"], m["executor"], *m["stable_tokens"], *m["base_tokens"]]
    addresses += [t["address"] for t in m["tokens"]] + [d["factory"] for d in m["dexes"]]
    addresses += [p[k] for p in m["pools"] for k in ("address", "token0", "token1")]
    assert all(is_checksum_address(a) for a in addresses)
    assert all(int(p["token0"], 16) < int(p["token1"], 16) for p in m["pools"])


def test_tokens_and_dexes_are_as_configured(net: Devnet) -> None:
    market = market_for(net.chain_id)
    dex_fees = {d["name"]: d["fee_bps"] for d in net.manifest["dexes"]}
    assert dex_fees == {d.name: d.fee_bps for d in market.dexes if d.family == V2}
    assert all(d["family"] == V2 for d in net.manifest["dexes"])
    assert {d["name"]: d["family"] for d in net.manifest["cl_dexes"]} == {
        d.name: d.family for d in market.dexes if d.family != V2
    }
    for t in net.manifest["tokens"]:
        assert (
            _uint(net, t["address"], abi("DevToken").decimals.encode())
            == t["decimals"]
            == market.token(t["symbol"]).decimals
        )
        raw = net.chain.call(t["address"], abi("DevToken").symbol.encode())
        assert decode(["string"], raw)[0] == t["symbol"]
    for d in net.manifest["dexes"]:
        if not d["genuine"]:  # the genuine Uniswap V2 factory has no fee getter (30 bps, hard-coded in the pair)
            assert _uint(net, d["factory"], abi("V2Factory").feeBps.encode()) == d["fee_bps"]
        n = _uint(net, d["factory"], abi("V2Factory").allPairsLength.encode())
        assert n == sum(1 for p in net.manifest["pools"] if p["dex"] == d["name"])


def test_pools_hold_the_configured_reserves(net: Devnet) -> None:
    market = market_for(net.chain_id)
    by_symbol = {t["symbol"]: t["address"] for t in net.manifest["tokens"] + net.manifest["odd_tokens"]}
    pools = {(p["dex"], p["token0"], p["token1"]): p for p in net.manifest["pools"]}
    for spec in market.pools:
        a, b = by_symbol[spec.a], by_symbol[spec.b]
        t0, t1 = sorted([a, b], key=lambda x: int(x, 16))
        pool = pools[(spec.dex, t0, t1)]
        r0, r1, _ = abi("V2Pair").getReserves.decode(
            net.chain.call(pool["address"], abi("V2Pair").getReserves.encode())
        )
        amount_a, amount_b = pool_amounts(market, spec)
        expected = (amount_a, amount_b) if a == t0 else (amount_b, amount_a)
        if pool.get("odd") and "RFL" in (spec.a, spec.b):  # fee-on-transfer: the pool got 1% less
            expected = tuple(
                e * 99 // 100 if tok == by_symbol["RFL"] else e for e, tok in zip(expected, (t0, t1), strict=True)
            )
        assert (r0, r1) == expected, f"{spec}"
        dex = market.dex(spec.dex)
        if dex.genuine:
            continue
        fee = _uint(net, pool["address"], abi("V2Pair").feeBps.encode())
        assert fee == pool["fee_bps"] == (spec.swap_fee_bps or dex.fee_bps)
        assert pool.get("fee_off_default", False) == (fee != dex.fee_bps)
        if dex.per_pair_fees:  # Biswap's getter, in tenths of a percent
            assert _uint(net, pool["address"], abi("V2Pair").swapFee.encode()) * 10 == fee
        else:
            with pytest.raises(Exception, match="revert"):
                net.chain.call(pool["address"], abi("V2Pair").swapFee.encode())


def test_biswap_has_pairs_off_its_default_fee(devnet_56: Devnet) -> None:
    biswap = [p for p in devnet_56.manifest["pools"] if p["dex"] == "Biswap"]
    off = [p for p in biswap if p.get("fee_off_default")]
    assert off and len(off) < len(biswap)
    assert {p["fee_bps"] for p in off} == {10} and {p["fee_bps"] for p in biswap if p not in off} == {20}


def test_multicall3_answers_at_the_canonical_address(net: Devnet) -> None:
    code = net.w3.eth.get_code(MULTICALL3_ADDRESS)
    assert code.hex().removeprefix("0x") == abi("Multicall3").deployed_bytecode[2:]
    mc = abi("Multicall3")
    pool = net.manifest["pools"][0]["address"]
    calls = [
        (MULTICALL3_ADDRESS, False, bytes.fromhex(mc.getBlockNumber.encode()[2:])),
        (pool, False, bytes.fromhex(abi("V2Pair").getReserves.encode()[2:])),
        (pool, True, b"\xde\xad\xbe\xef"),
    ]
    (results,) = mc.aggregate3.decode(net.chain.call(MULTICALL3_ADDRESS, mc.aggregate3.encode(calls)))
    assert results[0][0] and int.from_bytes(results[0][1], "big") == net.block_number()
    assert results[1][0] and len(results[1][1]) == 96
    assert results[2][0] is False


def test_odd_tokens_are_odd(devnet_56: Devnet) -> None:
    odd = {t["kind"]: t["address"] for t in devnet_56.manifest["odd_tokens"]}
    raw = devnet_56.chain.call(odd["bytes32_symbol"], abi("DevToken").symbol.encode())
    assert raw == b"B32".ljust(32, b"\0")
    with pytest.raises(Exception, match="revert"):
        devnet_56.chain.call(odd["decimals_reverts"], abi("DevToken").decimals.encode())
    assert _uint(devnet_56, odd["fee_on_transfer"], abi("FeeOnTransferToken").transferFeeBps.encode()) == 100


def test_pair_created_logs_carry_the_canonical_topic(devnet_137: Devnet) -> None:
    m = devnet_137.manifest
    logs = devnet_137.w3.eth.get_logs(
        {"fromBlock": m["deployed_at_block"], "toBlock": "latest", "topics": [CANONICAL["PairCreated"]]}
    )
    assert {log["address"] for log in logs} == {d["factory"] for d in m["dexes"]}
    created = {"0x" + log["data"][12:32].hex() for log in logs}
    assert {p["address"].lower() for p in m["pools"]} == created
