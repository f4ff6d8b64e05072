"""Ground truth written by the simulator matches what happened on chain."""

from __future__ import annotations

from collections import defaultdict

import pytest
from eth_utils import keccak, to_checksum_address

from devnet import CANONICAL_TOPICS as CANONICAL
from devnet.arbmath import Hop
from devnet.pytest_plugin import Devnet
from devnet.rpc import abi
from devnet.simulator import SWAP_TOPIC, decode_swap, detectable_by_v2, read_truth


def _balance(net: Devnet, token: str, owner: str) -> int:
    return int.from_bytes(net.chain.call(token, abi("DevToken").balanceOf.encode(owner)), "big")


def test_executor_balances_change_by_exactly_the_recorded_profit(devnet_56_fresh: Devnet) -> None:
    net = devnet_56_fresh
    bots = net.manifest["bots"] + net.manifest["cl_bots"]
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
        if a["cycle_index"] == 0 and a["builder_token"]:  # paid to the builder in WBNB, once per transaction
            profit[(executors[a["from"]], a["builder_token"])] -= int(a["builder_token_amount"])
    for key, value in before.items():
        assert _balance(net, key[1], key[0]) - value == profit.get(key, 0), key


def test_truth_amounts_are_the_swap_logs(devnet_137_fresh: Devnet) -> None:
    """The truth comes from balances; on V2-only cycles it must agree with the pairs' own Swap logs."""
    net = devnet_137_fresh
    result = net.simulate(40, seed=5)
    arbs = [line for line in result.truth if detectable_by_v2(line)]
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


@pytest.mark.parametrize("chain_id", [56, 137])
def test_routes_mix_v2_and_concentrated_liquidity(chain_id: int, request: pytest.FixtureRequest) -> None:
    net: Devnet = request.getfixturevalue(f"devnet_{chain_id}_fresh")
    result = net.simulate(80, seed=7)
    arbs = [line for line in result.truth if line["kind"] == "arbitrage"]
    cl_families = {f for p in net.manifest["cl_pools"] for f in [p["family"]]}
    mixed = [a for a in arbs if not a["v2_only"]]
    assert mixed, "no route through a V3/Algebra pool landed"
    seen = {f for a in mixed for f in a["families"]}
    assert "uniswap_v2" in seen and seen - {"uniswap_v2"} <= cl_families
    assert any(len(set(a["families"])) > 1 for a in mixed), "no cycle mixing V2 and V3 pools"
    assert all(len(a["families"]) == len(a["venues"]) == a["hops"] for a in arbs)
    # A transaction's cycles are all V2-only or none is.
    by_tx: dict[str, set[bool]] = defaultdict(set)
    for a in arbs:
        by_tx[a["tx_hash"]].add(a["v2_only"])
    assert all(len(v) == 1 for v in by_tx.values())
    assert result.stats.counts["noise_cl"] > 0
    decoys = {line["decoy"] for line in result.truth if line["kind"] == "decoy"}
    assert "batch_swaps" in decoys
    cl = {p["address"] for p in net.manifest["cl_pools"]}
    # Flash loans from a V3-style pool's flash(): the lender is off the route and logged Flash.
    loans = [a for a in mixed if a["flash_loan_from"]]
    assert loans, "no route funded by a V3 flash loan"
    flash_topic = "0x" + keccak(text="Flash(address,address,uint256,uint256,uint256,uint256)").hex()
    for a in loans:
        assert a["flash"] and a["flash_loan_from"] in cl and a["flash_loan_from"] not in a["pools"]
        receipt = net.chain.receipt(a["tx_hash"])
        assert receipt is not None
        assert any(
            to_checksum_address(lg["address"]) == a["flash_loan_from"] and lg["topics"][0] == flash_topic
            for lg in receipt["logs"]
        )
    # Each mixed cycle's receipt has a Swap log from each of its concentrated-liquidity pools.
    for a in mixed[:10]:
        receipt = net.chain.receipt(a["tx_hash"])
        assert receipt is not None
        logged = {to_checksum_address(lg["address"]) for lg in receipt["logs"]}
        assert set(a["pools"]) & cl <= logged


def test_builder_payments_and_tax_routes_are_recorded(devnet_56_fresh: Devnet) -> None:
    net = devnet_56_fresh
    result = net.simulate(120, seed=4, tax_probability=0.6, token_tip_probability=0.6)
    arbs = [line for line in result.truth if line["kind"] == "arbitrage"]
    paid = [a for a in arbs if a["builder_token"]]
    assert paid and all(a["builder_token"] == net.manifest["wrapped_native"] for a in paid)
    coinbase = net.manifest["accounts"]["builder_coinbase"]
    for a in paid[:5]:  # the WBNB really went to the block's coinbase
        receipt = net.chain.receipt(a["tx_hash"])
        assert receipt is not None
        transfer_topic = CANONICAL["Transfer"]
        to_builder = [
            lg for lg in receipt["logs"]
            if lg["topics"][0] == transfer_topic and to_checksum_address("0x" + lg["topics"][2][-40:]) == coinbase
        ]  # fmt: skip
        assert [int(lg["data"], 16) for lg in to_builder] == [int(a["builder_token_amount"])]
    taxed = [a for a in arbs if a["tax_token"]]
    assert taxed, "no tax-token route landed"
    assert not any(detectable_by_v2(a) for a in taxed)


def test_aggregator_routes_hold_tokens_in_the_aggregator_and_pay_the_searcher(devnet_56_fresh: Devnet) -> None:
    net = devnet_56_fresh
    agg = net.manifest["aggregator"]
    result = net.simulate(60, seed=5, aggregator_probability=0.8)
    lines = [line for line in result.truth if line["kind"] == "arbitrage" and line["aggregator"]]
    assert {line["via"] for line in lines} == {"executor", "aggregator"}
    assert {line["aggregator"] for line in lines} == {agg["address"], agg["keeping"]}
    for line in lines:
        receipt = net.chain.receipt(line["tx_hash"])
        assert receipt is not None and int(receipt["status"], 16) == 1
        aggregator, searcher = line["aggregator"], line["to"] if line["via"] == "executor" else line["from"]
        if line["via"] == "aggregator":
            assert line["from"] == agg["user"] and line["to"] == aggregator and line["aggregator_from"] == 0
        moves = [
            (lg["address"], "0x" + lg["topics"][1][-40:], "0x" + lg["topics"][2][-40:], int(lg["data"], 16))
            for lg in receipt["logs"]
            if lg["topics"] and lg["topics"][0] == CANONICAL["Transfer"]
        ]
        moves = [(to_checksum_address(t), to_checksum_address(a), to_checksum_address(b), v) for t, a, b, v in moves]
        # The aggregator pulled its input from the searcher, the last pool paid the aggregator, which
        # forwarded the start token to the searcher.
        entry = cycle_token = line["tokens"][line["aggregator_from"]]
        assert any(t == entry and a == searcher and b == aggregator for t, a, b, _ in moves)
        assert any(t == line["start_token"] and a == line["pools"][-1] and b == aggregator for t, a, b, _ in moves)
        assert any(t == line["start_token"] and a == aggregator and b == searcher for t, a, b, _ in moves)
        # Its fee went to the collector, or nowhere (kept).
        to_collector = sum(
            v for t, a, b, v in moves if t == cycle_token and a == aggregator and b == agg["fee_collector"]
        )
        if line["aggregator_keeps_fee"]:
            assert to_collector == 0
        else:
            assert to_collector == int(line["aggregator_fee"])
    assert any(int(line["aggregator_fee"]) > 0 for line in lines)
    decoys = [line for line in result.truth if line["kind"] == "decoy" and line["decoy"] == "aggregator_route"]
    assert decoys and all(line["to"] in (agg["address"], agg["keeping"]) for line in decoys)
