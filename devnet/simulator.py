"""Seeded market simulator for the devnet, and the ground truth it produces.

Per block it submits: noise swaps through the routers (pushing pools apart),
arbitrage transactions from several bots with their own executors (2/3/4-hop,
various start tokens, flash swaps, two cycles per transaction, builder tips,
lost races that revert), and decoys that a naive detector would misread.
After the block is mined it reads the receipts and writes one JSON line per
landed arbitrage cycle, per reverted attempt and per decoy, with amounts taken
from the Swap logs themselves. docs/devnet.md documents the format.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from eth_abi import decode
from eth_utils import to_checksum_address

from devnet import CANONICAL_TOPICS, MULTICALL3_ADDRESS, REPO_ROOT
from devnet.arbmath import Cycle, Hop, PoolInfo, best_trade, cycle_tokens, enumerate_cycles, get_amount_out
from devnet.rpc import Chain, abi

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
    truth_path: Path | None = None
    append: bool = False


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


def swap_logs(receipt: dict[str, Any]) -> list[dict[str, Any]]:
    return [lg for lg in receipt["logs"] if lg["topics"] and lg["topics"][0] == SWAP_TOPIC]


def cycles_from_receipt(receipt: dict[str, Any], cycles: list[tuple[Cycle, bool]]) -> list[dict[str, Any]]:
    """Match the receipt's Swap logs to the submitted cycles (pure).

    A flash cycle logs hops 1..n-1 first and hop 0 last (the first pair emits
    Swap after the callback returns). Returns per cycle the start amount (what
    the first pool received), the end amount (what the last pool sent) and
    the pools in swap order."""
    logs = swap_logs(receipt)
    out = []
    pos = 0
    for cycle, flash in cycles:
        n = len(cycle)
        chunk = logs[pos : pos + n]
        pos += n
        if len(chunk) != n:
            raise ValueError(f"tx {receipt['transactionHash']}: expected {n} Swap logs, found {len(chunk)}")
        ordered = [chunk[-1], *chunk[:-1]] if flash else chunk
        for hop, lg in zip(cycle, ordered, strict=True):
            if to_checksum_address(lg["address"]) != hop.pool:
                raise ValueError(f"tx {receipt['transactionHash']}: Swap from {lg['address']}, expected {hop.pool}")
        a0i, a1i, _, _ = decode_swap(ordered[0])
        _, _, a0o, a1o = decode_swap(ordered[-1])
        start = a0i if cycle[0].zero_for_one else a1i
        end = a0o if cycle[-1].zero_for_one is False else a1o
        out.append({"pools": [h.pool for h in cycle], "start_amount": start, "end_amount": end})
    return out


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
        self._capital = {e: {t: self._balance(t, e) for t in manifest["base_tokens"]} for _, e in self.bots}

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
        self.refresh_reserves()
        self._submit_arbitrages()
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
        for _ in range(n):
            pool = self._random_pool()
            token_in = pool.token0 if self.rng.random() < 0.5 else pool.token1
            token_out = pool.token1 if token_in == pool.token0 else pool.token0
            price = self._price(1.0, 1.5)
            trader = self.rng.choice(self.traders)
            self._router_swap(trader, pool.dex, [token_in, token_out], self._trade_size(token_in, pool), price)
            self.stats.counts["noise"] += 1
            out.append((price, pool, token_in))
        return out

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
                 "transfer", "sandwich"]  # fmt: skip
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
        dex, path = self.rng.choice(paths)
        pool = self._pool_on(dex, path[0], path[1])
        trader = self.rng.choice(self.traders)
        amount = self._trade_size(path[0], pool) // 4 + 1
        tx = self._router_swap(trader, dex, path, amount, self.gas_price)
        hops = []
        for a, b in itertools.pairwise(path):
            p = self._pool_on(dex, a, b)
            hops.append(Hop(p.address, a, b, p.fee_bps, a == p.token0))
        self._decoy("cyclic_route", tx, cycle=tuple(hops), sender=trader)

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
        for item, receipt in zip(self.pending, receipts, strict=True):
            if receipt is None:
                still.append(item)
                continue
            for line in self._truth_lines(item, receipt):
                self.stats.counts[line["kind"]] += 1
                self._truth.write(json.dumps(line) + "\n")
        self.pending = still

    def _truth_lines(self, item: PendingTx, receipt: dict[str, Any]) -> list[dict[str, Any]]:
        common = {
            "tx_hash": receipt["transactionHash"],
            "block_number": int(receipt["blockNumber"], 16),
            "chain_id": self.chain_id,
            "from": to_checksum_address(receipt["from"]),
            "gas_used": str(int(receipt["gasUsed"], 16)),
            "effective_gas_price": str(int(receipt["effectiveGasPrice"], 16)),
        }
        ok = int(receipt["status"], 16) == 1
        if item.kind == "decoy":
            meta = item.meta
            if meta["decoy"] == "cyclic_route" and ok:
                (found,) = cycles_from_receipt(receipt, [(meta["cycle"], False)])
                if found["end_amount"] > found["start_amount"]:
                    return [self._arb_line(common, meta["cycle"], found, False, 0, 0, 1, "router")]
            return [{"kind": "decoy", "decoy": meta["decoy"], "status": int(ok), **common}]
        meta = item.meta
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
                }
                for i, ((cycle, flash), (amount, expected)) in enumerate(zip(cycles, meta["planned"], strict=True))
            ]
        found_per_cycle = cycles_from_receipt(receipt, cycles)
        return [
            self._arb_line(common, cycle, f, flash, meta["coinbase_wei"], i, len(cycles), "executor", meta["attempt"])
            for i, ((cycle, flash), f) in enumerate(zip(cycles, found_per_cycle, strict=True))
        ]

    def _arb_line(
        self,
        common: dict[str, Any],
        cycle: Cycle,
        found: dict[str, Any],
        flash: bool,
        coinbase: int,
        index: int,
        count: int,
        via: str,
        attempt: str = "normal",
    ) -> dict[str, Any]:
        start, end = found["start_amount"], found["end_amount"]
        return {
            "kind": "arbitrage",
            **common,
            "cycle_index": index,
            "cycles_in_tx": count,
            "pools": found["pools"],
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
        }


def read_truth(path: Path | str) -> list[dict[str, Any]]:
    """Parse a ground-truth JSON-lines file."""
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]
