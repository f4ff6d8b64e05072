"""Ground truth written by the simulator matches what happened on chain."""

from __future__ import annotations

from collections import defaultdict

from devnet import CANONICAL_TOPICS as CANONICAL
from devnet.arbmath import Hop
from devnet.pytest_plugin import Devnet
from devnet.rpc import abi
from devnet.simulator import SWAP_TOPIC, decode_swap, read_truth


def _balance(net: Devnet, token: str, owner: str) -> int:
    return int.from_bytes(net.chain.call(token, abi("DevToken").balanceOf.encode(owner)), "big")


def test_executor_balances_change_by_exactly_the_recorded_profit(devnet_56_fresh: Devnet) -> None:
    net = devnet_56_fresh
    bots = net.manifest["bots"]
    executors = {b["account"]: b["executor"] for b in bots}
    tokens = net.manifest["base_tokens"]
    before = {(e, t): _balance(net, t, e) for e in executors.values() for t in tokens}
    result = net.simulate(60, seed=3)
    arbs = [line for line in result.truth if line["kind"] == "arbitrage" and line["via"] == "executor"]
    assert len(arbs) >= 5
    assert any(a["flash"] for a in arbs), "no flash cycle in this run"
    assert any(a["cycles_in_tx"] == 2 for a in arbs), "no double-cycle transaction in this run"
    assert any(a["coinbase_wei"] != "0" for a in arbs)
    assert {a["hops"] for a in arbs} >= {2, 3}
    assert len({a["start_token"] for a in arbs}) >= 2

    profit: dict[tuple[str, str], int] = defaultdict(int)
    for a in arbs:
        assert int(a["profit"]) == int(a["end_amount"]) - int(a["start_amount"]) > 0
        assert a["tokens"][0] == a["tokens"][-1] == a["start_token"]
        profit[(executors[a["from"]], a["start_token"])] += int(a["profit"])
    for key, value in before.items():
        assert _balance(net, key[1], key[0]) - value == profit.get(key, 0), key


def test_truth_amounts_are_the_swap_logs(devnet_137_fresh: Devnet) -> None:
    net = devnet_137_fresh
    result = net.simulate(40, seed=5)
    arbs = [line for line in result.truth if line["kind"] == "arbitrage"]
    assert arbs
    pools = {p["address"]: p for p in net.manifest["pools"]}
    for a in arbs:
        receipt = net.w3.eth.get_transaction_receipt(a["tx_hash"])
        assert receipt["status"] == 1 and receipt["blockNumber"] == a["block_number"]
        swaps = [lg for lg in receipt["logs"] if "0x" + lg["topics"][0].hex() == SWAP_TOPIC]
        by_pool = {lg["address"]: lg for lg in swaps}
        first, last = pools[a["pools"][0]], pools[a["pools"][-1]]
        a0i, a1i, _, _ = decode_swap({"data": "0x" + by_pool[first["address"]]["data"].hex()})
        _, _, a0o, a1o = decode_swap({"data": "0x" + by_pool[last["address"]]["data"].hex()})
        start = a0i if a["start_token"] == first["token0"] else a1i
        end = a0o if a["start_token"] == last["token0"] else a1o
        assert (str(start), str(end)) == (a["start_amount"], a["end_amount"])
        if a["flash"] and a["cycles_in_tx"] == 1:  # the lender's Swap is logged after the callback
            assert swaps[-1]["address"] == a["pools"][0]
    # the logs really carry the canonical topics
    receipt = net.w3.eth.get_transaction_receipt(arbs[0]["tx_hash"])
    topics = {"0x" + lg["topics"][0].hex() for lg in receipt["logs"]}
    assert {CANONICAL["Swap"], CANONICAL["Sync"], CANONICAL["Transfer"]} <= topics
    decoys = {line["decoy"] for line in result.truth if line["kind"] == "decoy"}
    assert decoys, "the simulator produced no decoys"


def test_a_failed_attempt_leaves_a_reverted_line(devnet_56_fresh: Devnet) -> None:
    net = devnet_56_fresh
    with net.simulator(seed=9) as sim:
        sim.refresh_reserves()
        pool = next(iter(sim.pools.values()))
        other = next(
            p for p in sim.pools.values() if p is not pool and {p.token0, p.token1} == {pool.token0, pool.token1}
        )
        cycle = (
            Hop(pool.address, pool.token0, pool.token1, pool.fee_bps, True),
            Hop(other.address, pool.token1, pool.token0, other.fee_bps, other.token0 == pool.token1),
        )
        account, executor = sim.bots[0]
        sim._send_arb(account, executor, [(cycle, False, 10**18, 10**30, 0.0)], sim.gas_price, 0, "normal")
        net.mine()
        sim.resolve_pending()
    (line,) = read_truth(sim.truth_path)
    assert line["kind"] == "reverted"
    assert line["pools"] == [pool.address, other.address]
    assert net.w3.eth.get_transaction_receipt(line["tx_hash"])["status"] == 0
