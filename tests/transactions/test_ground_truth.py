"""Acceptance: on the devnet, every arbitrage of the simulator's ground truth is found, no decoy is,
and every profit, gas and builder payment equals the simulator's balances to the wei.

The simulator runs its blocks in fast mode: 2/3/4-hop V2 cycles, routes mixing V2 with genuine
Uniswap V3 / PancakeSwap V3 / Algebra pools, tax-token routes (1 % fee on transfer), flash swaps,
V3 flash loans, several cycles per transaction (in one or several start tokens), builder payments
in native coin and in the wrapped native token, reverted races, and decoys: non-cyclic routes,
losing router round trips, swap-then-reverse across transactions, batch transactions of unrelated
swaps, liquidity adds/removes, transfers, sandwiches. The monitor then scans the range through
the shared live loop (``scan_run``), batch by batch, with call traces on (anvil has them).
"""

from __future__ import annotations

import os
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from devnet.pytest_plugin import Devnet
from scanning.loop import scan_run
from tests.transactions.devnet_helpers import devnet_setup, simulate
from transactions.models import ArbitrageTransaction

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db]

BLOCKS = int(os.environ.get("GROUND_TRUTH_BLOCKS", "500"))


def _truth_by_tx(truth: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in truth:
        if line["kind"] == "arbitrage":
            by_tx[line["tx_hash"].lower()].append(line)
    return {tx: sorted(lines, key=lambda line: line["cycle_index"]) for tx, lines in by_tx.items()}


@pytest.mark.timeout(1500)  # the simulation alone takes minutes on a loaded 2-core machine
def test_ground_truth_recall_precision_wei_exact(
    devnet_56_fresh: Devnet, scan_redis_clean: None, capsys: pytest.CaptureFixture[str]
) -> None:
    net = devnet_56_fresh
    first = net.block_number() + 1
    lines = simulate(net, BLOCKS, seed=11, tax_probability=0.3)
    last = net.block_number()
    config, client, monitor = devnet_setup(net, start_block=first)
    assert monitor.measure_coinbase

    while True:
        report = scan_run(config.chain_id, monitor, max_blocks=100, config=config, client=client)
        assert not report.skipped and report.reorg is None
        if report.to_block is None or report.to_block >= last:
            break

    truth = _truth_by_tx(lines)
    decoys = {line["tx_hash"].lower(): line for line in lines if line["kind"] in ("decoy", "reverted")}
    rows = {tx.tx_hash: tx for tx in ArbitrageTransaction.objects.filter(chain_id=56).prefetch_related("cycles")}
    stored = {h: tx for h, tx in rows.items() if tx.outcome == "profit"}
    losing = {h: tx for h, tx in rows.items() if tx.outcome != "profit"}

    missed = sorted(set(truth) - set(stored))
    extra = sorted(set(stored) - set(truth))
    assert not missed, f"recall < 100%: {len(missed)} of {len(truth)} missed, e.g. {missed[:3]}"
    assert not extra, f"precision < 100%: {extra[:3]} (decoys among them: {sorted(set(extra) & set(decoys))[:3]})"
    # A losing row is a closed cycle that lost: only the router round trips may be one.
    for tx_hash, tx in losing.items():
        assert decoys[tx_hash]["decoy"] == "cyclic_route", tx_hash
        assert tx.outcome == "loss" and all(int(p["raw"]) < 0 for p in tx.profits)
        assert not any(c.profitable for c in tx.cycles.all())
    assert len(truth) >= 100

    shapes: dict[str, int] = defaultdict(int)
    usd = {t["address"]: Decimal(str(t["usd_price"])) for t in net.manifest["tokens"]}
    decimals = {t["address"]: t["decimals"] for t in net.manifest["tokens"]}
    wrapped = net.manifest["wrapped_native"]
    for tx_hash, tx_lines in truth.items():
        tx = stored[tx_hash]
        cycles = list(tx.cycles.all())
        assert len(cycles) == len(tx_lines), tx_hash
        loan = any(x.get("flash_loan_from") for x in tx_lines)
        for cycle, line in zip(cycles, tx_lines, strict=True):
            assert cycle.start_token == line["start_token"], (tx_hash, cycle.hops, line, tx.profits)
            assert cycle.pools == line["pools"], (tx_hash, [c.pools for c in cycles], [x["pools"] for x in tx_lines])
            assert cycle.tokens == line["tokens"]
            assert cycle.venues == line["families"]
            assert [h["pool"] for h in cycle.hops] == line["pools"]
            # An aggregator running the whole cycle takes its fee from the start amount before the first
            # pool: the cycle's amounts are the pools', the truth's the searcher's (the profits below match).
            outside = int(line.get("aggregator_fee") or 0) if line.get("aggregator_from") == 0 else 0
            assert cycle.start_amount == int(line["start_amount"]) - outside
            if not loan:  # a flash loan's fee is paid outside the cycle: the truth's profit is net of it
                assert cycle.end_amount == int(line["end_amount"]), tx_hash
                assert cycle.profit_raw == int(line["profit"]) + outside > 0
            assert cycle.profitable
            shapes[f"{line['hops']}-hop"] += 1
            shapes["flash"] += bool(line["flash"])
            shapes["v2+v3"] += not line["v2_only"]
            shapes["tax token"] += bool(line["tax_token"])
            if line.get("aggregator"):  # hops from aggregator_from on ran inside the aggregator
                shapes["aggregator, executor" if line["via"] == "executor" else "aggregator, own account"] += 1
                shapes["aggregator fee"] += int(line["aggregator_fee"]) > 0
                shapes["aggregator keeps its fee"] += line["aggregator_keeps_fee"] and int(line["aggregator_fee"]) > 0
                shapes["aggregator fee on the start token"] += outside > 0
                shapes["aggregator mid-cycle"] += line["aggregator_from"] > 0
        shapes["flash loan"] += loan
        shapes["two-cycle tx"] += len(tx_lines) == 2
        shapes["two start tokens"] += len({x["start_token"] for x in tx_lines}) == 2
        # What the searcher gained, per token, equals the simulator's balance changes to the wei.
        expected: dict[str, int] = defaultdict(int)
        for x in tx_lines:
            expected[x["start_token"]] += int(x["profit"])
        assert {p["token"]: int(p["raw"]) for p in tx.profits} == {t: v for t, v in expected.items() if v}, tx_hash
        line = tx_lines[0]
        assert tx.from_address == line["from"]
        assert tx.contract_address == line["to"]
        assert tx.block_number == line["block_number"]
        assert tx.gas_used == int(line["gas_used"])
        egp = int(line["effective_gas_price"])
        assert tx.gas_price_gwei * 10**9 == egp
        if connection.vendor == "postgresql":
            assert tx.gas_cost_native * 10**18 == tx.gas_used * egp
        else:  # SQLite keeps a DecimalField as a double: 15-16 significant digits
            assert abs(tx.gas_cost_native * 10**18 - tx.gas_used * egp) <= tx.gas_used * egp * Decimal("1e-14")
        assert tx.swap_count == sum(int(x["hops"]) for x in tx_lines)
        assert tx.strategy == "+".join(f"{x['hops']}-hop" for x in tx_lines)
        assert tx.pools_involved == [p for x in tx_lines for p in x["pools"]]
        # Builder payments: native from the call trace, the wrapped native token from the logs.
        assert tx.coinbase_transfer_wei == int(line["coinbase_wei"]), tx_hash
        paid = {p["token"]: int(p["raw"]) for p in tx.builder_payments}
        assert paid.get("native", 0) == int(line["coinbase_wei"])
        assert paid.get(wrapped, 0) == int(line.get("builder_token_amount") or 0), tx_hash
        assert tx.builder_payment_usd is not None
        shapes["builder native"] += int(line["coinbase_wei"]) > 0
        shapes["builder token"] += int(line.get("builder_token_amount") or 0) > 0
        assert tx.price_source == "parent_block"
        assert tx.profit_gross_usd > 0 and tx.gas_cost_usd > 0
        assert tx.profit_net_usd == tx.profit_gross_usd - tx.gas_cost_usd - tx.builder_payment_usd
        # USD at the parent block's pool prices: the simulator's noise trades move pools away from
        # its reference prices, so this checks scale (decimals, the right quote) only.
        reference = sum(Decimal(v) / 10 ** decimals[t] * usd[t] for t, v in expected.items())
        assert abs(tx.profit_gross_usd - reference) <= reference * Decimal("0.5") + Decimal("0.01")

    kinds = ("v2+v3", "tax token", "flash", "two-cycle tx", "builder native", "builder token", "two start tokens")
    kinds += ("aggregator, executor", "aggregator, own account", "aggregator fee", "aggregator mid-cycle")
    kinds += ("aggregator keeps its fee", "aggregator fee on the start token")
    for shape in kinds:
        assert shapes[shape] > 0, f"the simulator ran no {shape} arbitrage: {dict(shapes)}"
    batches = [x for x in decoys.values() if x.get("decoy") == "batch_swaps" and x["status"]]
    assert batches, "the simulator should send batch transactions of unrelated swaps"
    routed = [x for x in decoys.values() if x.get("decoy") == "aggregator_route" and x["status"]]
    assert routed, "the simulator should send non-cyclic trades through the aggregator"

    with capsys.disabled():
        print(
            f"\nground truth chain 56: {BLOCKS} blocks {first}-{last}, {len(truth)} arbitrage txs, "
            f"{sum(len(v) for v in truth.values())} cycles, {len(decoys)} decoy/reverted txs "
            f"({len(losing)} losing round trips stored as losses, {len(batches)} batches of unrelated swaps, "
            f"{len(routed)} non-cyclic aggregator trades); recall 100%, precision 100%, "
            f"profits, gas and builder payments wei-exact; shapes {dict(shapes)}"
        )
