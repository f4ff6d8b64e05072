"""Seeded market simulator for the devnet, and the ground truth it produces.

Per block it submits: noise swaps through the routers (pushing pools apart;
the genuine Uniswap V3 SwapRouter and our V3Helper for the concentrated-
liquidity pools), arbitrage transactions from several bots with their own
executors (2/3/4-hop V2 cycles, routes mixing V2 and V3/Algebra pools,
tax-token routes, various start tokens, flash swaps, several cycles per
transaction, builder tips in native coin and in the wrapped native token,
lost races that revert), and decoys that a naive detector would misread.
After the block is mined it reads the receipts and writes one JSON line per
landed arbitrage cycle, per reverted attempt and per decoy. Profits are not
read from the DEXes' Swap logs: they are the executor's own balance changes
(its CycleExecuted event, checked against balanceOf at the parent block and
the block). docs/devnet.md documents the format.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from eth_abi import decode
from eth_utils import to_checksum_address

from devnet import CANONICAL_TOPICS, MULTICALL3_ADDRESS, REPO_ROOT
from devnet.arbmath import Cycle, Hop, PoolInfo, best_trade, cycle_tokens, enumerate_cycles, get_amount_out
from devnet.genuine import gabi
from devnet.markets import HOP_KIND, UNISWAP_V3, V2
from devnet.rpc import Chain, abi
from evm.rpc import RpcResponseError

SWAP_TOPIC = CANONICAL_TOPICS["Swap"]
DEADLINE = 2**40


@dataclass
class SimConfig:
    """Knobs of the simulator; rates are per block."""

    seed: int = 1
    noise_per_block: float = 4.0
    max_arbs_per_block: int = 3
    race_probability: float = 0.25  # a second bot chases the same cycle and (usually) reverts
    late_probability: float = 0.1  # a bot bids below the noise traders and may end up stale
    flash_probability: float = 0.3
    batch_probability: float = 0.3  # two cycles in one executeCycles transaction
    coinbase_probability: float = 0.25
    decoys_per_block: float = 1.0
    min_profit_usd: float = 1.0
    max_hops: int = 4
    # Concentrated liquidity (pools listed under the manifest's cl_pools):
    cl_noise_share: float = 0.35  # share of noise swaps sent to V3/Algebra pools
    cl_candidates_per_block: int = 8  # mixed V2+V3 routes priced per block (eth_call ladder)
    tax_probability: float = 0.2  # also price a route through a fee-on-transfer token
    token_tip_probability: float = 0.3  # a route tx pays the builder in the wrapped native token
    flash_loan_probability: float = 0.25  # a lone non-flash route borrows its input with a V3 pool's flash()
    aggregator_probability: float = 0.3  # a candidate route goes (partly) through the aggregator
    truth_path: Path | None = None
    append: bool = False


@dataclass(frozen=True)
class Aggregated:
    """A route sent through an aggregator (``address``): by its own searcher
    account (``via_user``, the whole cycle), or by an executor from hop
    ``start`` on; ``fee_bps`` of the aggregator's input is its fee."""

    via_user: bool
    sender: str
    start: int
    fee_bps: int
    address: str


# (usd net of gas, cycle, amount, profit, flash, tax, aggregated)
RouteOpp = tuple[float, Cycle, int, int, bool, bool, Aggregated | None]


@dataclass
class PendingTx:
    tx_hash: str
    kind: str  # arbitrage | decoy
    meta: dict[str, Any]


@dataclass
class SimStats:
    blocks: int = 0
    submitted: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"blocks": self.blocks, "submitted": self.submitted, "seconds": round(self.seconds, 3), **self.counts}


def default_truth_path(chain_id: int) -> Path:
    return REPO_ROOT / "var" / "devnet" / f"truth-{chain_id}.jsonl"


def decode_swap(log: dict[str, Any]) -> tuple[int, int, int, int]:
    a0i, a1i, a0o, a1o = decode(["uint256"] * 4, bytes.fromhex(log["data"][2:]))
    return int(a0i), int(a1i), int(a0o), int(a1o)


class Simulator:
    """Drives one deployed devnet chain. Not thread-safe; one per chain."""

    def __init__(self, rpc_url: str, manifest: dict[str, Any], config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.rng = random.Random(self.config.seed)
        self.chain = Chain(rpc_url)
        self.manifest = manifest
        self.chain_id = int(manifest["chain_id"])
        self.gas_price = int(manifest.get("gas_price_wei", 1_000_000_000))
        self.chain.default_gas_price = self.gas_price
        self.tokens = {t["address"]: t for t in manifest["tokens"]}
        self.symbol = {a: t["symbol"] for a, t in self.tokens.items()}
        self.usd = {a: float(t["usd_price"]) for a, t in self.tokens.items()}
        self.native_usd = self.usd[manifest["wrapped_native"]]
        self.pools = {
            p["address"]: PoolInfo(p["address"], p["token0"], p["token1"], int(p["fee_bps"]), p["dex"])
            for p in manifest["pools"]
            if not p.get("odd")
        }
        self.routers = {d["name"]: d["router"] for d in manifest["dexes"]}
        self.bots = [(b["account"], b["executor"]) for b in manifest["bots"]]
        accounts = manifest["accounts"]
        self.traders: list[str] = accounts["traders"]
        self.lp_provider: str = accounts["lp_provider"]
        self.transferer: str = accounts["transferer"]
        self.sandwicher: str = accounts["sandwicher"]
        self.cycles = enumerate_cycles(self.pools.values(), manifest["base_tokens"], self.config.max_hops)
        self._init_routes(manifest)
        self.reserves: dict[str, tuple[int, int]] = {}
        self.pending: list[PendingTx] = []
        self._block_bids: dict[str, int] = {}
        self.stats = SimStats()
        self._lp_positions: list[tuple[str, str, str]] = []  # (dex, tokenA, tokenB)
        self._reverse_queue: list[tuple[str, str, list[str], int]] = []
        path = self.config.truth_path or default_truth_path(self.chain_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.truth_path = path
        self._truth: TextIO = open(path, "a" if self.config.append else "w")  # noqa: SIM115 - closed in close()
        # Executor capital only grows (reverts change nothing), so the funding
        # read now is a safe cap for non-flash inputs.
        holders = [e for _, e in [*self.bots, *self.cl_bots]] + ([self.aggregator["user"]] if self.aggregator else [])
        self._capital = {e: {t: self._balance(t, e) for t in manifest["base_tokens"]} for e in holders}

    # ------------------------------------------------------------------ I/O helpers
    def close(self) -> None:
        if not self._truth.closed:
            self._truth.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _balance(self, token: str, owner: str) -> int:
        return int.from_bytes(self.chain.call(token, abi("DevToken").balanceOf.encode(owner)), "big")

    def _init_routes(self, manifest: dict[str, Any]) -> None:
        """Concentrated-liquidity pools, mixed routes and tax-token routes."""
        cl_pools = manifest.get("cl_pools") or []
        # fee_bps of a CL pool only orders nothing here: its hops are priced on chain.
        self.cl_pools = {
            p["address"]: PoolInfo(p["address"], p["token0"], p["token1"], (p["fee"] or 0) // 100, p["dex"])
            for p in cl_pools
        }
        self.cl_meta = {p["address"]: p for p in cl_pools}
        self.family = {a: V2 for a in self.pools} | {p["address"]: p["family"] for p in cl_pools}
        self.dex_of = {p["address"]: p["dex"] for p in manifest["pools"]} | {p["address"]: p["dex"] for p in cl_pools}
        self.swap_router = next(
            (d["router"] for d in manifest.get("cl_dexes") or [] if d["family"] == UNISWAP_V3), None
        )
        self.v3_helper: str | None = manifest.get("v3_helper")
        self.cl_bots = [(b["account"], b["executor"]) for b in manifest.get("cl_bots") or []]
        self.batcher: dict[str, str] | None = manifest.get("batcher")
        self.aggregator: dict[str, str] | None = manifest.get("aggregator")
        self.round_tripper: str | None = manifest["accounts"].get("round_tripper")
        bases = manifest["base_tokens"]
        mixed = enumerate_cycles([*self.pools.values(), *self.cl_pools.values()], bases, self.config.max_hops)
        self.mixed_cycles = [c for c in mixed if any(h.pool in self.cl_pools for h in c)]
        fot = {t["address"] for t in manifest.get("odd_tokens", []) if t["kind"] == "fee_on_transfer"}
        odd = {t["address"] for t in manifest.get("odd_tokens", [])}
        tax_pools = {
            p["address"]: PoolInfo(p["address"], p["token0"], p["token1"], int(p["fee_bps"]), p["dex"])
            for p in manifest["pools"]
            if {p["token0"], p["token1"]} & fot and len({p["token0"], p["token1"]} & odd) == 1
        }
        for a in tax_pools:
            self.family[a] = V2
            self.dex_of[a] = tax_pools[a].dex
        self.tax_pools = tax_pools
        taxed = enumerate_cycles([*self.pools.values(), *tax_pools.values()], bases, 3)
        self.tax_cycles = [c for c in taxed if any(h.pool in tax_pools for h in c)]
        self.pool_fee = {a: p.fee_bps for a, p in {**self.pools, **tax_pools}.items()}
        self._block_pools: set[str] = set()
        self._round_trip_sent = False

    def refresh_reserves(self) -> None:
        """All pools' reserves in one Multicall3 eth_call."""
        pools = list(self.pools)
        get = abi("V2Pair").getReserves.encode()
        calls = [(p, True, bytes.fromhex(get[2:])) for p in pools]
        raw = self.chain.call(MULTICALL3_ADDRESS, abi("Multicall3").aggregate3.encode(calls))
        (results,) = abi("Multicall3").aggregate3.decode(raw)
        for p, (ok, data) in zip(pools, results, strict=True):
            if ok:
                r0, r1, _ = decode(["uint112", "uint112", "uint32"], data)
                self.reserves[p] = (int(r0), int(r1))

    def _send(self, sender: str, to: str, data: str, *, gas: int, gas_price: int, value: int = 0) -> str:
        # anvil orders a block by fee and drops (rather than defers) a tx whose
        # predecessor nonce has not run yet, so an account's later tx in the
        # same block must never bid more than its earlier one.
        last = self._block_bids.get(sender)
        if last is not None and gas_price >= last:
            gas_price = max(last - 1, 1)
        self._block_bids[sender] = gas_price
        self.stats.submitted += 1
        return self.chain.send(sender, to, data, gas=gas, gas_price=gas_price, value=value)

    def _price(self, lo: float, hi: float) -> int:
        return int(self.gas_price * self.rng.uniform(lo, hi))

    # ------------------------------------------------------------------ one block
    def step(self) -> None:
        """Submit one block's worth of transactions (not mined here)."""
        self._block_bids = {}
        self._block_pools = set()
        self._round_trip_sent = False
        self.refresh_reserves()
        self._submit_arbitrages()
        self._submit_routes()
        noise_prices = self._submit_noise()
        self._submit_decoys(noise_prices)

    def simulate_blocks(self, n: int, progress: bool = False) -> SimStats:
        """Fast mode: for each block submit, evm_mine, record the truth."""
        t0 = time.monotonic()
        for _ in range(n):
            self.step()
            self.chain.mine()
            self.resolve_pending()
            self._check_pool_drained()
            self.stats.blocks += 1
            if progress and self.stats.blocks % 50 == 0:
                print(f"chain {self.chain_id}: {self.stats.blocks} blocks, {dict(self.stats.counts)}", flush=True)
        self.stats.seconds += time.monotonic() - t0
        self._truth.flush()
        return self.stats

    def _check_pool_drained(self) -> None:
        """Fast mode: after evm_mine nothing of ours may be left behind (a
        stuck nonce would silently stall an account for the rest of the run)."""
        status = self.chain.rpc("txpool_status")
        left = int(status["pending"], 16) + int(status["queued"], 16)
        if left or self.pending:
            raise RuntimeError(f"chain {self.chain_id}: {left} txs left in the pool after evm_mine: {status}")

    def run_live(self, stop: threading.Event, block_time: float, duration: float | None = None) -> SimStats:
        """Live mode: anvil mines on its own clock; submit once per block time."""
        t0 = time.monotonic()
        last_block = self.chain.block_number()
        while not stop.is_set() and (duration is None or time.monotonic() - t0 < duration):
            block = self.chain.block_number()
            if block != last_block:
                self.stats.blocks += block - last_block
                last_block = block
                self.resolve_pending()
                self._truth.flush()  # readers tail the file while we run
                self.step()
            stop.wait(min(0.2, block_time / 4))
        self.resolve_pending()
        self.stats.seconds += time.monotonic() - t0
        self._truth.flush()
        return self.stats

    # ------------------------------------------------------------------ arbitrage bots
    def _opportunities(self) -> list[tuple[float, Cycle, int, int]]:
        found = []
        for cycle in self.cycles:
            if any(h.pool not in self.reserves for h in cycle):
                continue
            start = cycle[0].token_in
            x, profit = best_trade(cycle, self.reserves)
            if profit <= 0:
                continue
            usd = profit / 10 ** self.tokens[start]["decimals"] * self.usd[start]
            gas_usd = (120_000 * len(cycle)) * self.gas_price / 1e18 * self.native_usd
            if usd - gas_usd >= self.config.min_profit_usd:
                found.append((usd, cycle, x, profit))
        found.sort(key=lambda f: -f[0])
        chosen: list[tuple[float, Cycle, int, int]] = []
        used: set[str] = set()
        for opp in found:
            pools = {h.pool for h in opp[1]}
            if pools & used:
                continue
            chosen.append(opp)
            used |= pools
            if len(chosen) >= self.config.max_arbs_per_block + 1:
                break
        return chosen

    def _cycle_args(self, cycle: Cycle, amount: int, min_profit: int) -> tuple[list[str], list[int], str, int, int]:
        return [h.pool for h in cycle], [h.fee_bps for h in cycle], cycle[0].token_in, amount, min_profit

    def _submit_arbitrages(self) -> None:
        rng = self.rng
        opps = self._opportunities()
        if not opps:
            return
        bots = list(range(len(self.bots)))
        rng.shuffle(bots)
        i = 0
        while opps and bots and i < self.config.max_arbs_per_block:
            i += 1
            bot = bots.pop()
            account, executor = self.bots[bot]
            take = 2 if len(opps) >= 2 and rng.random() < self.config.batch_probability else 1
            picked, opps = opps[:take], opps[take:]
            for _usd, cycle, _x, _p in picked:
                self._block_pools |= {h.pool for h in cycle}
            late = rng.random() < self.config.late_probability
            price = self._price(0.5, 0.9) if late else self._price(3.0, 6.0)
            plans = []
            for usd, cycle, x, profit in picked:
                flash = rng.random() < self.config.flash_probability
                cap = self._capital[executor].get(cycle[0].token_in, 0) * 8 // 10
                amount = x if flash else min(x, cap)
                expected = profit if amount == x else max(best_trade(cycle, self.reserves, amount)[1], 0)
                if amount <= 0 or expected <= 0:
                    continue
                plans.append((cycle, flash, amount, expected, usd))
            if not plans:
                continue
            coinbase = 0
            if len(plans) > 1 or rng.random() < self.config.coinbase_probability:
                tip_usd = sum(p[4] for p in plans) * rng.uniform(0.1, 0.5) if rng.random() < 0.6 else 0.0
                coinbase = int(tip_usd / self.native_usd * 1e18)
            self._send_arb(account, executor, plans, price, coinbase, "late" if late else "normal")
            # Somebody else saw the same first cycle: bids a bit lower and loses.
            if bots and rng.random() < self.config.race_probability:
                rival = bots.pop()
                r_account, r_executor = self.bots[rival]
                cycle, _flash, amount, expected, usd = plans[0]
                flash = rng.random() < 0.5
                if not flash:
                    amount = min(amount, self._capital[r_executor].get(cycle[0].token_in, 0) * 8 // 10)
                self._send_arb(r_account, r_executor, [(cycle, flash, amount, expected, usd)], price - 1, 0, "race")

    def _send_arb(
        self,
        account: str,
        executor: str,
        plans: list[tuple[Cycle, bool, int, int, float]],
        gas_price: int,
        coinbase: int,
        attempt: str,
    ) -> None:
        ex = abi("ArbExecutor")
        if len(plans) == 1 and coinbase == 0:
            cycle, flash, amount, expected, _ = plans[0]
            fn = ex.executeFlashCycle if flash else ex.executeCycle
            data = fn.encode(*self._cycle_args(cycle, amount, expected // 2))
        else:
            structs = [(*self._cycle_args(c, a, e // 2), f) for c, f, a, e, _ in plans]
            data = ex.executeCycles.encode(structs, coinbase)
        gas = 400_000 + 250_000 * sum(len(p[0]) for p in plans)
        tx_hash = self._send(account, executor, data, gas=gas, gas_price=gas_price, value=coinbase)
        meta = {
            "from": account,
            "executor": executor,
            "cycles": [(c, f) for c, f, _a, _e, _u in plans],
            "planned": [(a, e) for _c, _f, a, e, _u in plans],
            "coinbase_wei": coinbase,
            "attempt": attempt,
        }
        self.pending.append(PendingTx(tx_hash, "arbitrage", meta))

    # ------------------------------------------------------------------ routes: V2 + V3/Algebra, tax tokens
    def _route_hops(self, cycle: Cycle) -> list[tuple[str, int, int]]:
        """ArbExecutor.Hop structs: V2 hops carry the pair's own fee."""
        return [
            (h.pool, HOP_KIND[self.family[h.pool]], self.pool_fee[h.pool] if self.family[h.pool] == V2 else 0)
            for h in cycle
        ]

    def _route_struct(self, cycle: Cycle, amount: int, min_profit: int, flash: bool) -> tuple[Any, ...]:
        return (self._route_hops(cycle), cycle[0].token_in, amount, min_profit, flash)

    def _raw_usd(self, usd: float, token: str) -> int:
        return int(usd / self.usd[token] * 10 ** self.tokens[token]["decimals"])

    def _eth_calls(self, calls: list[dict[str, Any]]) -> list[bytes | None]:
        """eth_call each at the latest block in one batch; None where it reverted."""
        if not calls:
            return []
        replies = self.chain.client.batch([("eth_call", [c, "latest"]) for c in calls], return_errors=True)
        return [None if isinstance(r, RpcResponseError) else bytes.fromhex(r[2:]) for r in replies]

    def _price_routes(self, candidates: list[tuple[Cycle, bool, Aggregated | None]]) -> list[RouteOpp]:
        """Price each candidate on chain (executeRoute, executeAggregated or the
        aggregator's swap as eth_call on a ladder of sizes, from the account that
        would send it); (usd net of gas, cycle, amount, profit, flash, tax, aggregated)."""
        account, executor = self.cl_bots[0]
        ladder_usd = (300.0, 1_500.0, 6_000.0, 25_000.0, 100_000.0)
        calls, keys = [], []
        for i, (cycle, flash, agg) in enumerate(candidates):
            start = cycle[0].token_in
            for usd in ladder_usd:
                amount = self._raw_usd(usd, start)
                if agg is not None and agg.via_user:
                    amount = min(amount, self._capital[agg.sender].get(start, 0) * 8 // 10)
                elif not flash:
                    amount = min(amount, self._capital[executor].get(start, 0) * 8 // 10)
                if amount <= 0:
                    continue
                sender, to, data = self._route_call(account, executor, cycle, amount, 0, flash, agg)
                calls.append({"from": sender, "to": to, "data": data, "gas": hex(3_000_000)})
                keys.append((i, amount))
        best: dict[int, tuple[int, int]] = {}
        for (i, amount), raw in zip(keys, self._eth_calls(calls), strict=True):
            if raw is None:
                continue
            profit = int.from_bytes(raw[:32], "big")
            agg = candidates[i][2]
            if agg is not None and agg.via_user:
                profit -= amount  # the aggregator returns its output
            if profit > best.get(i, (0, 0))[1]:
                best[i] = (amount, profit)
        out = []
        for i, (amount, profit) in best.items():
            cycle, flash, agg = candidates[i]
            start = cycle[0].token_in
            usd = profit / 10 ** self.tokens[start]["decimals"] * self.usd[start]
            gas_usd = (180_000 * len(cycle)) * self.gas_price / 1e18 * self.native_usd
            if usd - gas_usd >= self.config.min_profit_usd:
                tax = any(h.pool in self.tax_pools for h in cycle)
                out.append((usd - gas_usd, cycle, amount, profit, flash, tax, agg))
        out.sort(key=lambda o: -o[0])
        return out

    def _route_call(
        self,
        account: str,
        executor: str,
        cycle: Cycle,
        amount: int,
        min_profit: int,
        flash: bool,
        agg: Aggregated | None,
    ) -> tuple[str, str, str]:
        """(sender, to, calldata) of one route: the executor's executeRoute, its
        executeAggregated, or (a searcher without a contract) the aggregator's swap."""
        if agg is None:
            return (
                account,
                executor,
                abi("ArbExecutor").executeRoute.encode(self._route_struct(cycle, amount, min_profit, flash)),
            )
        assert self.aggregator is not None
        if agg.via_user:
            data = abi("DevAggregator").swap.encode(
                self._route_hops(cycle), cycle[0].token_in, amount, amount + min_profit, agg.fee_bps, agg.sender
            )
            return agg.sender, agg.address, data
        data = abi("ArbExecutor").executeAggregated.encode(
            self._route_struct(cycle, amount, min_profit, False), agg.address, agg.start, agg.fee_bps
        )
        return account, executor, data

    def _aggregators(self) -> list[str]:
        """The aggregator that sends its fees to a collector, and the one that keeps them."""
        if self.aggregator is None:
            return []
        return [a for a in (self.aggregator["address"], self.aggregator.get("keeping")) if a]

    def _aggregated(self, cycle: Cycle) -> Aggregated | None:
        """Sometimes: send this route through an aggregator, either from the
        aggregators' searcher account (the whole cycle, output back to it) or
        from an executor that hands hops ``start``.. to the aggregator, with a
        fee of 0, 5 or 10 bps on the aggregator's input (a fee on the start
        token falls between the pools' amounts and the searcher's)."""
        if self.aggregator is None or self.rng.random() >= self.config.aggregator_probability:
            return None
        if any(h.pool in self.tax_pools for h in cycle):  # a V3 pool cannot be paid in a tax token anyway
            return None
        address = self.rng.choice(self._aggregators())
        fee = self.rng.choice((0, 5, 10))
        if self.rng.random() < 0.35:
            return Aggregated(via_user=True, sender=self.aggregator["user"], start=0, fee_bps=fee, address=address)
        start = self.rng.randrange(len(cycle))
        return Aggregated(via_user=False, sender="", start=start, fee_bps=fee, address=address)

    def _submit_routes(self) -> None:
        """Route bots: mixed V2+V3/Algebra cycles (and tax-token cycles), priced
        on chain, pool-disjoint from this block's V2 arbitrages."""
        rng = self.rng
        if not self.cl_bots or not (self.mixed_cycles or self.tax_cycles):
            return
        pool_free = [c for c in self.mixed_cycles if not {h.pool for h in c} & self._block_pools]
        k = min(self.config.cl_candidates_per_block, len(pool_free))
        candidates: list[tuple[Cycle, bool, Aggregated | None]] = []
        for c in rng.sample(pool_free, k):
            agg = self._aggregated(c)
            candidates.append((c, agg is None and rng.random() < self.config.flash_probability, agg))
        if self.tax_cycles and rng.random() < self.config.tax_probability:
            candidates.append((rng.choice(self.tax_cycles), False, None))
        opps = self._price_routes(candidates)
        bots = list(self.cl_bots)
        rng.shuffle(bots)
        chosen: list[RouteOpp] = []
        user_sent = False
        for opp in opps:
            pools = {h.pool for h in opp[1]}
            if pools & self._block_pools:
                continue
            agg = opp[6]
            if agg is not None and agg.via_user:
                # The aggregator's searcher sends at most one a block (its balance
                # change over the block is that trade's), and needs no bot.
                if user_sent:
                    continue
                user_sent = True
                self._block_pools |= pools
                self._send_user_route(opp, agg)
                continue
            chosen.append(opp)
            self._block_pools |= pools
        while chosen and bots:
            account, executor = bots.pop()
            # A tax or aggregated route travels alone; otherwise sometimes two routes in one transaction.
            alone = [o[5] or o[6] is not None for o in chosen[:2]]
            take = 2 if len(chosen) >= 2 and not any(alone) else 1
            take = take if rng.random() < self.config.batch_probability else 1
            picked, chosen = chosen[:take], chosen[take:]
            if picked[0][6] is not None:
                self._send_aggregated(account, executor, picked[0], picked[0][6], self._price(3.0, 6.0))
                continue
            net_usd = sum(p[0] for p in picked)
            coinbase = pay = 0
            if rng.random() < self.config.coinbase_probability:
                coinbase = int(net_usd * rng.uniform(0.05, 0.3) / self.native_usd * 1e18)
            if rng.random() < self.config.token_tip_probability:
                pay = int(net_usd * rng.uniform(0.05, 0.3) / self.native_usd * 1e18)
            lender = None
            if len(picked) == 1 and not picked[0][4] and coinbase == pay == 0:
                lender = self._flash_lender(picked[0][1])
            self._send_routes(account, executor, picked, self._price(3.0, 6.0), coinbase, pay, lender)

    def _flash_lender(self, cycle: Cycle) -> str | None:
        """Sometimes: a V3/Algebra pool holding the start token, off the route, to flash-borrow from."""
        if self.rng.random() >= self.config.flash_loan_probability:
            return None
        start, on_route = cycle[0].token_in, {h.pool for h in cycle}
        lenders = [a for a, p in self.cl_pools.items() if start in (p.token0, p.token1) and a not in on_route]
        return self.rng.choice(lenders) if lenders else None

    def _send_routes(
        self,
        account: str,
        executor: str,
        picked: list[RouteOpp],
        gas_price: int,
        coinbase: int,
        pay: int,
        lender: str | None = None,
    ) -> None:
        ex = abi("ArbExecutor")
        structs = [self._route_struct(c, a, p // 2, f) for _u, c, a, p, f, _t, _g in picked]
        if lender is not None:
            data = ex.executeRouteFlashLoan.encode(lender, structs[0])
        elif len(structs) == 1 and coinbase == 0 and pay == 0:
            data = ex.executeRoute.encode(structs[0])
        else:
            data = ex.executeRoutes.encode(structs, coinbase, self.manifest["wrapped_native"], pay)
        gas = 500_000 + 400_000 * sum(len(p[1]) for p in picked)
        tx_hash = self._send(account, executor, data, gas=gas, gas_price=gas_price, value=coinbase)
        meta = {
            "from": account,
            "executor": executor,
            "cycles": [(c, f or lender is not None) for _u, c, _a, _p, f, _t, _g in picked],
            "flash_lender": lender,
            "planned": [(a, p) for _u, _c, a, p, _f, _t, _g in picked],
            "coinbase_wei": coinbase,
            "pay_token": self.manifest["wrapped_native"] if pay else None,
            "pay_amount": pay,
            "attempt": "normal",
            "tax": any(o[5] for o in picked),
        }
        self.pending.append(PendingTx(tx_hash, "arbitrage", meta))

    def _send_aggregated(self, account: str, executor: str, opp: RouteOpp, agg: Aggregated, gas_price: int) -> None:
        """One route from an executor whose hops from ``agg.start`` on are one aggregator call."""
        _usd, cycle, amount, profit, _flash, _tax, _agg = opp
        _sender, to, data = self._route_call(account, executor, cycle, amount, profit // 2, False, agg)
        tx_hash = self._send(account, to, data, gas=600_000 + 400_000 * len(cycle), gas_price=gas_price)
        meta = {
            "from": account,
            "executor": executor,
            "cycles": [(cycle, False)],
            "planned": [(amount, profit)],
            "coinbase_wei": 0,
            "attempt": "normal",
            "aggregated": agg,
        }
        self.pending.append(PendingTx(tx_hash, "arbitrage", meta))

    def _send_user_route(self, opp: RouteOpp, agg: Aggregated) -> None:
        """A searcher without a contract: the whole cycle is one aggregator call
        from its own account, the output back to it (minOut = input + half the profit)."""
        _usd, cycle, amount, profit, _flash, _tax, _agg = opp
        account, executor = self.cl_bots[0]
        sender, to, data = self._route_call(account, executor, cycle, amount, profit // 2, False, agg)
        tx_hash = self._send(sender, to, data, gas=600_000 + 400_000 * len(cycle), gas_price=self._price(3.0, 6.0))
        meta = {
            "from": sender,
            "user": sender,
            "cycles": [(cycle, False)],
            "planned": [(amount, profit)],
            "coinbase_wei": 0,
            "attempt": "normal",
            "aggregated": agg,
        }
        self.pending.append(PendingTx(tx_hash, "arbitrage", meta))

    # ------------------------------------------------------------------ noise
    def _random_pool(self) -> PoolInfo:
        return self.rng.choice(list(self.pools.values()))

    def _trade_size(self, token: str, pool: PoolInfo) -> int:
        usd = min(self.rng.lognormvariate(7.5, 1.4), 250_000.0)  # median ~$1.8k
        r0, r1 = self.reserves[pool.address]
        reserve = r0 if token == pool.token0 else r1
        amount = int(usd / self.usd[token] * 10 ** self.tokens[token]["decimals"])
        return max(1, min(amount, reserve // 12))

    def _router_swap(self, sender: str, dex: str, path: list[str], amount: int, gas_price: int) -> str:
        data = abi("V2Router").swapExactTokensForTokens.encode(amount, 0, path, sender, DEADLINE)
        return self._send(sender, self.routers[dex], data, gas=200_000 + 120_000 * len(path), gas_price=gas_price)

    def _submit_noise(self) -> list[tuple[int, PoolInfo, str]]:
        """Single-hop swaps; returns (gas price, pool, token in) for sandwiches."""
        n = self._poisson(self.config.noise_per_block)
        out = []
        if self.tax_pools and self.rng.random() < self.config.tax_probability:
            self._tax_noise()
        for _ in range(n):
            if self.cl_pools and self.rng.random() < self.config.cl_noise_share:
                self._cl_noise()
                continue
            pool = self._random_pool()
            token_in = pool.token0 if self.rng.random() < 0.5 else pool.token1
            token_out = pool.token1 if token_in == pool.token0 else pool.token0
            price = self._price(1.0, 1.5)
            trader = self.rng.choice(self.traders)
            self._router_swap(trader, pool.dex, [token_in, token_out], self._trade_size(token_in, pool), price)
            self.stats.counts["noise"] += 1
            out.append((price, pool, token_in))
        return out

    def _tax_noise(self) -> None:
        """Buy the fee-on-transfer token in one of its pools (the router cannot sell
        it: the pair receives less than the router computed with)."""
        pool = self.rng.choice(list(self.tax_pools.values()))
        odd = {t["address"] for t in self.manifest.get("odd_tokens", [])}
        token_in = pool.token0 if pool.token1 in odd else pool.token1
        token_out = pool.token1 if token_in == pool.token0 else pool.token0
        amount = self._raw_usd(self.rng.uniform(500, 5_000), token_in)
        trader = self.rng.choice(self.traders)
        self._router_swap(trader, pool.dex, [token_in, token_out], amount, self._price(1.0, 1.5))
        self.stats.counts["noise_tax"] += 1

    def _cl_noise(self) -> None:
        """One swap on a V3/Algebra pool: Uniswap V3 through the genuine
        SwapRouter, PancakeSwap V3 and Algebra through V3Helper's callback."""
        address = self.rng.choice(list(self.cl_pools))
        meta = self.cl_meta[address]
        zero_for_one = self.rng.random() < 0.5
        token_in, token_out = (meta["token0"], meta["token1"]) if zero_for_one else (meta["token1"], meta["token0"])
        amount = max(1, self._raw_usd(min(self.rng.lognormvariate(7.5, 1.4), 150_000.0), token_in))
        trader = self.rng.choice(self.traders)
        price = self._price(1.0, 1.5)
        if meta["family"] == UNISWAP_V3 and self.swap_router:
            params = (token_in, token_out, meta["fee"], trader, DEADLINE, amount, 0, 0)
            to, data = self.swap_router, gabi("SwapRouter").exactInputSingle.encode(params)
        else:
            assert self.v3_helper is not None
            to, data = self.v3_helper, abi("V3Helper").swapExactIn.encode(address, zero_for_one, amount, 0, trader)
        self._send(trader, to, data, gas=900_000, gas_price=price)
        self.stats.counts["noise_cl"] += 1

    def _poisson(self, lam: float) -> int:
        # Knuth; lam is small.
        limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    # ------------------------------------------------------------------ decoys
    def _decoy(self, name: str, tx_hash: str, **extra: Any) -> None:
        self.pending.append(PendingTx(tx_hash, "decoy", {"decoy": name, **extra}))

    def _submit_decoys(self, noise: list[tuple[int, PoolInfo, str]]) -> None:
        rng = self.rng
        for sender, dex, path, amount in self._reverse_queue:
            self._decoy("swap_reverse", self._router_swap(sender, dex, path, amount, self.gas_price))
        self._reverse_queue = []
        kinds = ["route_non_cyclic", "cyclic_route", "swap_then_reverse", "add_liquidity", "remove_liquidity",
                 "transfer", "sandwich", "batch_swaps", "aggregator_route"]  # fmt: skip
        for _ in range(self._poisson(self.config.decoys_per_block)):
            kind = rng.choice(kinds)
            getattr(self, f"_decoy_{kind}")(noise)

    def _paths(self, length: int, closed: bool) -> list[tuple[str, list[str]]]:
        """Router paths of `length` hops on one DEX (closed: back to the start)."""
        by_dex: dict[str, list[PoolInfo]] = {}
        for p in self.pools.values():
            by_dex.setdefault(p.dex, []).append(p)
        out = []
        for dex, pools in by_dex.items():
            for cyc in enumerate_cycles(pools, sorted({p.token0 for p in pools} | {p.token1 for p in pools}), length):
                if len(cyc) != length:
                    continue
                toks = cycle_tokens(cyc)
                out.append((dex, toks if closed else toks[:-1]))
        return out

    def _pool_on(self, dex: str, a: str, b: str) -> PoolInfo:
        """The pool of ``dex`` that pairs tokens ``a`` and ``b`` (either order)."""
        return next(p for p in self.pools.values() if p.dex == dex and {p.token0, p.token1} == {a, b})

    def _decoy_route_non_cyclic(self, _noise: Any) -> None:
        paths = self._paths(3, closed=False)
        if not paths:
            return
        dex, path = self.rng.choice(paths)
        pool = self._pool_on(dex, path[0], path[1])
        trader = self.rng.choice(self.traders)
        self._decoy(
            "route_non_cyclic", self._router_swap(trader, dex, path, self._trade_size(path[0], pool), self.gas_price)
        )

    def _decoy_cyclic_route(self, _noise: Any) -> None:
        """A router round trip A->B->C->A on one DEX: usually a loss. If the
        logs show a profit it is recorded as an arbitrage (it is one)."""
        paths = self._paths(3, closed=True)
        if not paths:
            return
        if self._round_trip_sent or self.round_tripper is None:
            return
        self._round_trip_sent = True  # one per block: its balance change over the block is this trade's
        dex, path = self.rng.choice(paths)
        pool = self._pool_on(dex, path[0], path[1])
        trader = self.round_tripper
        amount = self._trade_size(path[0], pool) // 4 + 1
        tx = self._router_swap(trader, dex, path, amount, self.gas_price)
        hops = []
        for a, b in itertools.pairwise(path):
            p = self._pool_on(dex, a, b)
            hops.append(Hop(p.address, a, b, p.fee_bps, a == p.token0))
        self._decoy("cyclic_route", tx, cycle=tuple(hops), sender=trader, amount=amount)

    def _decoy_swap_then_reverse(self, _noise: Any) -> None:
        pool = self._random_pool()
        trader = self.rng.choice(self.traders)
        a, b = (pool.token0, pool.token1) if self.rng.random() < 0.5 else (pool.token1, pool.token0)
        amount = self._trade_size(a, pool)
        r0, r1 = self.reserves[pool.address]
        r_in, r_out = (r0, r1) if a == pool.token0 else (r1, r0)
        back = get_amount_out(amount, r_in, r_out, pool.fee_bps) * 99 // 100
        self._decoy("swap_then_reverse", self._router_swap(trader, pool.dex, [a, b], amount, self.gas_price))
        if back > 0:
            self._reverse_queue.append((trader, pool.dex, [b, a], back))

    def _decoy_add_liquidity(self, _noise: Any) -> None:
        pool = self._random_pool()
        r0, r1 = self.reserves[pool.address]
        usd = self.rng.uniform(5_000, 100_000)
        a0 = int(usd / self.usd[pool.token0] * 10 ** self.tokens[pool.token0]["decimals"])
        a1 = a0 * r1 // r0 * 101 // 100  # router takes the optimal amount of token1
        data = abi("V2Router").addLiquidity.encode(pool.token0, pool.token1, a0, a1, 0, 0, self.lp_provider, DEADLINE)
        tx = self._send(self.lp_provider, self.routers[pool.dex], data, gas=400_000, gas_price=self.gas_price)
        self._lp_positions.append((pool.dex, pool.token0, pool.token1))
        self._decoy("add_liquidity", tx)

    def _decoy_remove_liquidity(self, noise: Any) -> None:
        if not self._lp_positions:
            self._decoy_add_liquidity(noise)
            return
        dex, t0, t1 = self._lp_positions.pop(self.rng.randrange(len(self._lp_positions)))
        pair = self._pool_on(dex, t0, t1).address
        lp = self._balance(pair, self.lp_provider)
        if lp == 0:
            return
        router = self.routers[dex]
        approve = abi("V2Pair").approve.encode(router, lp)
        self._send(self.lp_provider, pair, approve, gas=100_000, gas_price=self.gas_price * 2)
        data = abi("V2Router").removeLiquidity.encode(t0, t1, lp // 2, 0, 0, self.lp_provider, DEADLINE)
        self._decoy(
            "remove_liquidity", self._send(self.lp_provider, router, data, gas=400_000, gas_price=self.gas_price)
        )

    def _decoy_batch_swaps(self, _noise: Any) -> None:
        """Two unrelated single-hop swaps in one transaction (ArbExecutor.swapBatch
        from the batcher): a batch, not an arbitrage."""
        if not self.batcher:
            return
        bases = set(self.manifest["base_tokens"])
        pools = [p for p in [*self.pools.values(), *self.cl_pools.values()] if {p.token0, p.token1} & bases]
        first = self.rng.choice(pools)
        others = [p for p in pools if not {p.token0, p.token1} & {first.token0, first.token1}]
        if not others:
            return
        hops, tokens_in, amounts = [], [], []
        for p in (first, self.rng.choice(others)):
            token_in = p.token0 if p.token0 in bases else p.token1
            family = self.family[p.address]
            hops.append((p.address, HOP_KIND[family], self.pool_fee.get(p.address, 0) if family == V2 else 0))
            tokens_in.append(token_in)
            amounts.append(self._raw_usd(self.rng.uniform(200, 5_000), token_in))
        data = abi("ArbExecutor").swapBatch.encode(hops, tokens_in, amounts)
        tx = self._send(
            self.batcher["account"], self.batcher["executor"], data, gas=1_500_000, gas_price=self.gas_price
        )
        self._decoy("batch_swaps", tx)

    def _decoy_aggregator_route(self, _noise: Any) -> None:
        """A trader sells A for C through the aggregator over two pools (V2 or
        V3-style, A -> B -> C, C != A): a multi-hop swap, not an arbitrage."""
        if self.aggregator is None:
            return
        pools = [*self.pools.values(), *self.cl_pools.values()]
        first = self.rng.choice(pools)
        a, b = (first.token0, first.token1) if self.rng.random() < 0.5 else (first.token1, first.token0)
        seconds = [
            p
            for p in pools
            if p.address != first.address and b in (p.token0, p.token1) and a not in (p.token0, p.token1)
        ]
        if not seconds:
            return
        second = self.rng.choice(seconds)
        c = second.token1 if b == second.token0 else second.token0
        path = (
            Hop(first.address, a, b, first.fee_bps, a == first.token0),
            Hop(second.address, b, c, second.fee_bps, b == second.token0),
        )
        hops = self._route_hops(path)
        trader = self.rng.choice(self.traders)
        amount = self._raw_usd(self.rng.uniform(200, 5_000), a)
        fee = self.rng.choice((0, 5, 10))
        data = abi("DevAggregator").swap.encode(hops, a, amount, 0, fee, trader)
        aggregator = self.rng.choice(self._aggregators())
        tx = self._send(trader, aggregator, data, gas=1_500_000, gas_price=self.gas_price)
        self._decoy("aggregator_route", tx)

    def _decoy_transfer(self, _noise: Any) -> None:
        token = self.rng.choice(list(self.tokens))
        amount = int(self.rng.uniform(10, 10_000) / self.usd[token] * 10 ** self.tokens[token]["decimals"])
        data = abi("DevToken").transfer.encode(self.rng.choice(self.traders), amount)
        self._decoy("transfer", self._send(self.transferer, token, data, gas=100_000, gas_price=self.gas_price))

    def _decoy_sandwich(self, noise: list[tuple[int, PoolInfo, str]]) -> None:
        """Front-run a pending noise swap (higher bid), back-run it (lower bid)."""
        if not noise:
            return
        victim_price, pool, token_in = self.rng.choice(noise)
        token_out = pool.token1 if token_in == pool.token0 else pool.token0
        amount = self._trade_size(token_in, pool)
        r0, r1 = self.reserves[pool.address]
        r_in, r_out = (r0, r1) if token_in == pool.token0 else (r1, r0)
        got = get_amount_out(amount, r_in, r_out, pool.fee_bps)
        front = self._router_swap(self.sandwicher, pool.dex, [token_in, token_out], amount, victim_price + 2)
        back = self._router_swap(self.sandwicher, pool.dex, [token_out, token_in], got, max(victim_price - 1, 1))
        self._decoy("sandwich_front", front)
        self._decoy("sandwich_back", back)

    # ------------------------------------------------------------------ ground truth
    def resolve_pending(self) -> None:
        """Write truth lines for every pending tx that has been mined."""
        if not self.pending:
            return
        receipts = self.chain.receipts([p.tx_hash for p in self.pending])
        still = []
        mined: list[tuple[PendingTx, dict[str, Any]]] = []
        for item, receipt in zip(self.pending, receipts, strict=True):
            if receipt is None:
                still.append(item)
            else:
                mined.append((item, receipt))
        self.pending = still
        deltas = self._balance_deltas(mined)
        expected: dict[tuple[str, int, str], int] = defaultdict(int)
        for item, receipt in mined:
            lines = self._truth_lines(item, receipt, deltas)
            block = int(receipt["blockNumber"], 16)
            for line in lines:
                self.stats.counts[line["kind"]] += 1
                self._truth.write(json.dumps(line) + "\n")
                if line["kind"] == "arbitrage" and line["via"] == "executor":
                    expected[(item.meta["executor"], block, line["start_token"])] += int(line["profit"])
            if (
                lines
                and lines[0]["kind"] == "arbitrage"
                and lines[0]["via"] == "executor"
                and item.meta.get("pay_amount")
            ):
                expected[(item.meta["executor"], block, item.meta["pay_token"])] -= int(item.meta["pay_amount"])
        # The executor's own per-cycle figures must add up to its balance change
        # over the block (each executor sends at most one transaction a block).
        for key, value in expected.items():
            if deltas.get(key) != value:
                raise RuntimeError(
                    f"chain {self.chain_id}: executor balance change {deltas.get(key)} != {value} at {key}"
                )

    def _balance_deltas(self, mined: list[tuple[PendingTx, dict[str, Any]]]) -> dict[tuple[str, int, str], int]:
        """balanceOf(owner) at the block minus at its parent (eth_call), for every
        landed executor arbitrage (its start tokens and builder-payment token) and
        every landed round trip (its start token)."""
        wanted: set[tuple[str, int, str]] = set()
        for item, receipt in mined:
            if int(receipt["status"], 16) != 1:
                continue
            block = int(receipt["blockNumber"], 16)
            if item.kind == "arbitrage":
                for cycle, _flash in item.meta["cycles"]:
                    wanted.add((item.meta.get("executor") or item.meta["user"], block, cycle[0].token_in))
                if item.meta.get("pay_amount"):
                    wanted.add((item.meta["executor"], block, item.meta["pay_token"]))
            elif item.meta.get("decoy") == "cyclic_route":
                wanted.add((item.meta["sender"], block, item.meta["cycle"][0].token_in))

        keys = sorted(wanted)
        calls = []
        for owner, block, token in keys:
            data = abi("DevToken").balanceOf.encode(owner)
            calls.append(("eth_call", [{"to": token, "data": data}, hex(block - 1)]))
            calls.append(("eth_call", [{"to": token, "data": data}, hex(block)]))
        raw = self.chain.batch(calls)
        return {key: int(raw[2 * i + 1], 16) - int(raw[2 * i], 16) for i, key in enumerate(keys)}

    def _cycle_profits(self, receipt: dict[str, Any], executor: str) -> list[tuple[int, int]]:
        """(amountIn, profit) per cycle from the executor's CycleExecuted events:
        the contract's own balanceOf before and after each cycle."""
        topic = abi("ArbExecutor").topic("CycleExecuted")
        out = []
        for lg in receipt["logs"]:
            if lg["topics"] and lg["topics"][0] == topic and to_checksum_address(lg["address"]) == executor:
                amount_in, profit, _flash = decode(["uint256", "uint256", "bool"], bytes.fromhex(lg["data"][2:]))
                out.append((int(amount_in), int(profit)))
        return out

    def _truth_lines(
        self, item: PendingTx, receipt: dict[str, Any], deltas: dict[tuple[str, int, str], int]
    ) -> list[dict[str, Any]]:
        block = int(receipt["blockNumber"], 16)
        common = {
            "tx_hash": receipt["transactionHash"],
            "block_number": block,
            "chain_id": self.chain_id,
            "from": to_checksum_address(receipt["from"]),
            "to": to_checksum_address(receipt["to"]) if receipt.get("to") else None,
            "gas_used": str(int(receipt["gasUsed"], 16)),
            "effective_gas_price": str(int(receipt["effectiveGasPrice"], 16)),
        }
        ok = int(receipt["status"], 16) == 1
        meta = item.meta
        if item.kind == "decoy":
            if meta["decoy"] == "cyclic_route" and ok:
                cycle = meta["cycle"]
                gained = deltas[(meta["sender"], block, cycle[0].token_in)]
                if gained > 0:
                    start = int(meta["amount"])
                    return [self._arb_line(common, cycle, start, start + gained, False, 0, 0, 1, "router")]
            return [{"kind": "decoy", "decoy": meta["decoy"], "status": int(ok), **common}]
        cycles = meta["cycles"]
        if not ok:
            return [
                {
                    "kind": "reverted",
                    **common,
                    "cycle_index": i,
                    "cycles_in_tx": len(cycles),
                    "pools": [h.pool for h in cycle],
                    "tokens": cycle_tokens(cycle),
                    "start_token": cycle[0].token_in,
                    "planned_amount": str(amount),
                    "expected_profit": str(expected),
                    "flash": flash,
                    "coinbase_wei": str(meta["coinbase_wei"]),
                    "attempt": meta["attempt"],
                    **self._route_fields(cycle, meta),
                }
                for i, ((cycle, flash), (amount, expected)) in enumerate(zip(cycles, meta["planned"], strict=True))
            ]
        if meta.get("user"):  # the aggregator's own searcher: its balance change is the profit
            (cycle, _flash), (amount, _exp) = cycles[0], meta["planned"][0]
            gained = deltas[(meta["user"], block, cycle[0].token_in)]
            line = self._arb_line(common, cycle, amount, amount + gained, False, 0, 0, 1, "aggregator")
            return [line | self._route_fields(cycle, meta) | self._routed_fee(receipt, meta)]
        profits = self._cycle_profits(receipt, meta["executor"])
        if len(profits) != len(cycles):
            raise RuntimeError(
                f"tx {receipt['transactionHash']}: {len(profits)} CycleExecuted for {len(cycles)} cycles"
            )
        lines = []
        for i, ((cycle, flash), (amount, _exp), (amount_in, profit)) in enumerate(
            zip(cycles, meta["planned"], profits, strict=True)
        ):
            if amount_in != amount:
                raise RuntimeError(f"tx {receipt['transactionHash']}: cycle {i} ran {amount_in}, planned {amount}")
            line = self._arb_line(
                common, cycle, amount, amount + profit, flash, meta["coinbase_wei"], i, len(cycles), "executor",
                meta["attempt"],
            )  # fmt: skip
            lines.append(line | self._route_fields(cycle, meta) | self._routed_fee(receipt, meta))
        return lines

    def _routed_fee(self, receipt: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        """The fee the aggregator took (raw units of its input token), from its own ``Routed`` event."""
        agg: Aggregated | None = meta.get("aggregated")
        if agg is None:
            return {}
        topic = abi("DevAggregator").topic("Routed")
        fees = [
            int(decode(["address", "uint256", "address", "uint256", "uint256"], bytes.fromhex(lg["data"][2:]))[4])
            for lg in receipt["logs"]
            if lg["topics"] and lg["topics"][0] == topic and to_checksum_address(lg["address"]) == agg.address
        ]
        if len(fees) != 1:
            raise RuntimeError(f"tx {receipt['transactionHash']}: {len(fees)} Routed events of {agg.address}")
        return {"aggregator_fee": str(fees[0])}

    def _route_fields(self, cycle: Cycle, meta: dict[str, Any]) -> dict[str, Any]:
        families = [self.family[h.pool] for h in cycle]
        return {
            "families": families,
            "venues": [self.dex_of[h.pool] for h in cycle],
            "v2_only": all(f == V2 for f in families),
            "tax_token": any(h.pool in self.tax_pools for h in cycle),
            "builder_token": meta.get("pay_token"),
            "builder_token_amount": str(meta.get("pay_amount") or 0),
            "flash_loan_from": meta.get("flash_lender"),
            **self._aggregator_fields(meta.get("aggregated")),
        }

    def _aggregator_fields(self, agg: Aggregated | None) -> dict[str, Any]:
        """Which hops the aggregator ran (from ``aggregator_from`` to the end) and its fee on their input."""
        if agg is None or self.aggregator is None:
            return {
                "aggregator": None,
                "aggregator_keeps_fee": False,
                "aggregator_from": None,
                "aggregator_fee_bps": 0,
                "aggregator_fee": "0",
            }
        return {
            "aggregator": agg.address,
            "aggregator_keeps_fee": agg.address == self.aggregator.get("keeping"),
            "aggregator_from": agg.start,
            "aggregator_fee_bps": agg.fee_bps,
        }

    def _arb_line(
        self,
        common: dict[str, Any],
        cycle: Cycle,
        start: int,
        end: int,
        flash: bool,
        coinbase: int,
        index: int,
        count: int,
        via: str,
        attempt: str = "normal",
    ) -> dict[str, Any]:
        return {
            "kind": "arbitrage",
            **common,
            "cycle_index": index,
            "cycles_in_tx": count,
            "pools": [h.pool for h in cycle],
            "tokens": cycle_tokens(cycle),
            "start_token": cycle[0].token_in,
            "start_amount": str(start),
            "end_amount": str(end),
            "profit": str(end - start),
            "hops": len(cycle),
            "flash": flash,
            "coinbase_wei": str(coinbase),
            "via": via,
            "attempt": attempt,
            **self._route_fields(cycle, {}),
        }


def detectable_by_v2(line: dict[str, Any]) -> bool:
    """An arbitrage line that a V2-only detector is expected to find: every hop
    of every cycle of its transaction on a V2 pool, no fee-on-transfer token.
    (The simulator never puts V2-only and other cycles in one transaction.)"""
    return line["kind"] == "arbitrage" and line.get("v2_only", True) and not line.get("tax_token", False)


def read_truth(path: Path | str) -> list[dict[str, Any]]:
    """Parse a ground-truth JSON-lines file."""
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]
