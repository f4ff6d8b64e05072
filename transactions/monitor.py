"""ChainMonitor: the block processor that finds executed arbitrage transactions.

Per block range (one ``BlockBatch`` from ``scanning.loop``):

1. the ``Swap`` logs of every pool family (V2, Uniswap V3 / Algebra, PancakeSwap
   V3), grouped by transaction;
2. each pool's tokens, from the database or resolved once on chain and cached
   (pools of unknown DEXes count like any other), and its protocol family;
3. a cheap test on tokens alone: do the transaction's swaps close a cycle?
4. receipts of those transactions only (one batch): the sender, the contract it
   called, gas, and every log, whose ``Transfer``/``Deposit``/``Withdrawal``
   give the token flows; ``transactions.flows`` links the swaps into cycles by
   token and address continuity and measures what the searcher gained;
5. optionally one ``debug_traceTransaction`` (callTracer) per arbitrage: native
   coin moved, and native builder payments (``TX_MEASURE_COINBASE``; off by
   itself on a node without ``debug_*``), and the block's fee recipient
   (``miner``, or Bor's ``bor_getAuthor`` where the registry says so);
6. USD prices at the *parent* block (``getReserves`` in one Multicall3
   ``eth_call`` per block); a node without that state leaves them empty and the
   row says so (``price_source``);
7. rows written through ``transactions.services`` (idempotent, broadcast after
   commit, opportunities linked).

Every RPC read happens before the first write, so the scanner's database
transaction (rows + cursor) stays short.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from chains.clients import chain_client
from chains.config import ChainConfig
from chains.models import Dex, Pool, Token
from chains.pricing import PoolReserves, PriceBook
from evm import abis
from evm.rpc import (
    BlockHeader,
    Call,
    LogRecord,
    MethodNotSupported,
    Receipt,
    ReorgDuringFetch,
    aggregate3_decode,
    aggregate3_encode,
    checksum_address,
)
from scanning.loop import BlockBatch, ScanReport, chain_config_get, scan_run
from transactions.flows import (
    SWAP_TOPICS,
    V2_SWAP_TOPIC,
    V3_SWAP_TOPIC,
    Hop,
    TokenMove,
    TxArbitrage,
    arbitrage_find,
    hop_from_log,
    moves_from_logs,
    native_moves_from_trace,
    searchers_of,
    token_cycle_possible,
)
from transactions.services import (
    BlockPrices,
    PricedTransaction,
    TxFacts,
    TxToRecord,
    transactions_known,
    transactions_price,
    transactions_rollback,
    transactions_write,
)

logger = logging.getLogger(__name__)


GLOBAL_STATE = bytes.fromhex("e76c01e4")  # Algebra's globalState()


def _word_address(data: bytes) -> str:
    return checksum_address("0x" + data[12:32].hex())


class MonitorClient(Protocol):
    """The parts of ``evm.rpc.ChainClient`` the monitor uses."""

    def get_receipts(self, tx_hashes: Sequence[str]) -> dict[str, Receipt]: ...
    def get_block_headers(self, numbers: Sequence[int]) -> list[BlockHeader]: ...
    def multicall(self, calls: Sequence[Call], *, block: int | str | None = None) -> list[Any]: ...
    def batch(self, calls: Sequence[tuple[str, list[Any]]], *, return_errors: bool = False) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class PoolTokens:
    token0: str
    token1: str


@dataclass(slots=True)
class Candidate:
    """A transaction whose swaps' tokens close a cycle (whether its flows do is decided on its receipt)."""

    tx_hash: str
    block_number: int
    block_hash: str


@dataclass(slots=True)
class MonitorStats:
    blocks: int = 0
    swap_txs: int = 0
    arbitrage_txs: int = 0
    recorded: int = 0
    already_stored: int = 0
    reverted_or_missing: int = 0
    pools_resolved: int = 0


class _Lru(OrderedDict[Any, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class ArbitrageMonitor:
    """``BlockProcessor`` of kind ``transactions`` (see ``scanning.loop``)."""

    kind = "transactions"

    def __init__(
        self,
        *,
        config: ChainConfig,
        client: MonitorClient,
        measure_coinbase: bool | None = None,
        broadcast: bool = True,
    ) -> None:
        self.config = config
        self.chain_id = config.chain_id
        self.client = client
        self.measure_coinbase = settings.TX_MEASURE_COINBASE if measure_coinbase is None else measure_coinbase
        self.broadcast = broadcast
        self.trace_supported = True  # turned off for this process by the first "method not supported"
        self.stats = MonitorStats()
        self._pools: dict[str, PoolTokens | None] = {}
        self._algebra: dict[str, bool] = {}  # pools emitting Uniswap V3's Swap topic: Algebra or not
        self._reserves_at: _Lru = _Lru(256)  # (block, pools) -> {pool: (r0, r1)}
        quotes = [*config.stable_tokens, *config.base_tokens]
        if config.wrapped_native:
            quotes.append(config.wrapped_native)
        self.quote_tokens = frozenset(quotes)

    # ------------------------------------------------------------------ BlockProcessor protocol
    def topics(self) -> list[list[str]]:
        return [list(SWAP_TOPICS)]

    def fetch(self, batch: BlockBatch) -> list[TxToRecord]:
        """Every read of the batch (detection picks the receipts to read; tips, prices), no transaction open."""
        return self.collect(batch.logs, headers={h.number: h for h in batch.headers})

    def compute(self, batch: BlockBatch, items: list[TxToRecord]) -> list[PricedTransaction]:
        """Each arbitrage transaction's row and cycles, priced at its block (pure).

        A backfill's rows are detected at their block's time (not now), so history sorts among its own time.
        """
        priced = transactions_price(items)
        if batch.live:
            return priced
        return [dataclasses.replace(p, fields={**p.fields, "detected_at": p.fields["block_timestamp"]}) for p in priced]

    def write(self, batch: BlockBatch, priced: list[PricedTransaction]) -> int:
        """Rows and cycles through the shared write path; a backfill (``live`` False) is stored, not broadcast."""
        self.stats.blocks += len(batch.headers)
        stored = transactions_write(chain_id=self.chain_id, priced=priced, broadcast=self.broadcast and batch.live)
        self.stats.recorded += stored
        return stored

    def rollback_fetch(self, chain_id: int, from_block: int) -> None:
        return None

    def rollback(self, chain_id: int, from_block: int, fetched: None) -> None:
        transactions_rollback(chain_id=chain_id, from_block=from_block)
        self._reserves_at.clear()

    # ------------------------------------------------------------------ the steps
    def collect(
        self, logs: Iterable[LogRecord], *, headers: Mapping[int, BlockHeader] | None = None
    ) -> list[TxToRecord]:
        """The read half: arbitrages not stored yet, with their receipt facts, flows and prices."""
        candidates = self.detect(logs)
        if not candidates:
            return []
        known = transactions_known(chain_id=self.chain_id, tx_hashes=[c.tx_hash for c in candidates])
        self.stats.already_stored += len(known)
        candidates = [c for c in candidates if c.tx_hash not in known]
        if not candidates:
            return []
        receipts = self.client.get_receipts([c.tx_hash for c in candidates])
        landed: list[tuple[Candidate, Receipt]] = []
        for candidate in candidates:
            receipt = receipts.get(candidate.tx_hash)
            if receipt is None or receipt.status != 1:
                self.stats.reverted_or_missing += 1  # a node that lost the tx: the reorg check will tell
                continue
            if receipt.block_hash != candidate.block_hash:
                raise ReorgDuringFetch(f"{candidate.tx_hash}: receipt block {receipt.block_hash} != log block")
            landed.append((candidate, receipt))
        if not landed:
            return []
        blocks = sorted({c.block_number for c, _ in landed})
        headers = dict(headers or {})
        missing = [n for n in blocks if n not in headers]
        if missing:
            headers.update({h.number: h for h in self.client.get_block_headers(missing)})
        for number in blocks:
            if headers[number].hash != next(c.block_hash for c, _ in landed if c.block_number == number):
                raise ReorgDuringFetch(f"block {number}: header hash differs from the logs' block hash")
        hops = {c.tx_hash: self.hops_of(r.logs) for c, r in landed}
        arbitraged: list[tuple[Candidate, Receipt]] = []
        arbitrages: dict[str, TxArbitrage] = {}
        # First pass without traces: only transactions whose flows close a cycle are traced.
        for candidate, receipt in landed:
            found = self.arbitrage_of(receipt, hops[candidate.tx_hash], fee_recipient=None, native_moves=None)
            if found is not None:
                arbitraged.append((candidate, receipt))
        self.stats.arbitrage_txs += len(arbitraged)
        if not arbitraged:
            return []
        recipients = self.fee_recipients(sorted({c.block_number for c, _ in arbitraged}), headers)
        traces = self.call_traces([c.tx_hash for c, _ in arbitraged]) if self.measure_coinbase else {}
        for candidate, receipt in arbitraged:
            trace = traces.get(candidate.tx_hash)
            found = self.arbitrage_of(
                receipt,
                hops[candidate.tx_hash],
                fee_recipient=recipients.get(candidate.block_number),
                native_moves=trace,
            )
            assert found is not None  # the same swaps and logs: the cycles do not depend on the trace
            arbitrages[candidate.tx_hash] = found
        wanted: dict[int, set[str]] = defaultdict(set)
        for candidate, _ in arbitraged:
            arb = arbitrages[candidate.tx_hash]
            wanted[candidate.block_number].update(arb.gains)
            wanted[candidate.block_number].update(t for t in arb.builder_payments if t.startswith("0x"))
            wanted[candidate.block_number].update(c.start_token for c in arb.cycles)
        prices = self.prices_at_blocks(wanted)
        items = []
        for candidate, receipt in arbitraged:
            header = headers[candidate.block_number]
            facts = TxFacts(
                tx_hash=candidate.tx_hash,
                from_address=receipt.from_address,
                block_number=candidate.block_number,
                block_hash=candidate.block_hash,
                block_timestamp=datetime.fromtimestamp(header.timestamp, tz=UTC),
                gas_used=receipt.gas_used,
                effective_gas_price=receipt.effective_gas_price,
                contract_address=receipt.to_address or "",
            )
            items.append(TxToRecord(facts, arbitrages[candidate.tx_hash], prices[candidate.block_number]))
        return items

    def arbitrage_of(
        self,
        receipt: Receipt,
        hops: Sequence[Hop],
        *,
        fee_recipient: str | None,
        native_moves: Sequence[TokenMove] | None,
    ) -> TxArbitrage | None:
        """The cycles and flows of one landed transaction (pure, on its receipt's logs)."""
        moves = moves_from_logs(receipt.logs, wrapped_native=self.config.wrapped_native)
        return arbitrage_find(
            hops=hops,
            moves=moves,
            searchers=searchers_of(sender=receipt.from_address, contract=receipt.to_address, moves=moves),
            fee_recipient=fee_recipient,
            native_moves=native_moves,
            wrapped_native=self.config.wrapped_native,
        )

    def hops_of(self, logs: Iterable[LogRecord]) -> list[Hop]:
        """The Swap logs among ``logs`` as hops (pools of unknown tokens left out), in log order."""
        swaps = sorted((log for log in logs if log.topic0 in SWAP_TOPICS), key=lambda log: log.log_index)
        tokens = self.swap_pool_tokens(swaps)
        uni_v3 = {log.address for log in swaps if log.topic0 == V3_SWAP_TOPIC and log.address in tokens}
        algebra = self.algebra_pools(uni_v3)
        hops = []
        for log in swaps:
            pool = tokens.get(log.address)
            if pool is None:
                continue  # not a pool (or unresolvable): its swap cannot be chained
            venue = "algebra" if log.address in algebra else None
            hop = hop_from_log(log, token0=pool.token0, token1=pool.token1, venue=venue)
            if hop is not None:
                hops.append(hop)
        return hops

    def detect(self, logs: Iterable[LogRecord]) -> list[Candidate]:
        """Swap logs → per transaction → those whose swaps' tokens close a cycle (in block order)."""
        by_tx: dict[str, list[LogRecord]] = defaultdict(list)
        for log in logs:
            if log.topic0 in SWAP_TOPICS:
                by_tx[log.tx_hash].append(log)
        if not by_tx:
            return []
        self.stats.swap_txs += len(by_tx)
        # A transaction needs two swaps to hold a cycle: only those pools need tokens.
        multi = {tx: tx_logs for tx, tx_logs in by_tx.items() if len(tx_logs) >= 2}
        self.swap_pool_tokens([log for tx_logs in multi.values() for log in tx_logs])
        candidates: list[Candidate] = []
        for tx_hash, tx_logs in multi.items():
            if token_cycle_possible(self.hops_of(tx_logs)):
                first = min(tx_logs, key=lambda log: log.log_index)
                candidates.append(Candidate(tx_hash, first.block_number, first.block_hash))
        candidates.sort(key=lambda c: (c.block_number, min(log.log_index for log in by_tx[c.tx_hash])))
        return candidates

    def swap_pool_tokens(self, swaps: Sequence[LogRecord]) -> dict[str, PoolTokens]:
        """Tokens of the pools that logged ``swaps``: V2 pairs stored as pools, V3-style pools only cached."""
        v2 = {log.address for log in swaps if log.topic0 == V2_SWAP_TOPIC}
        others = {log.address for log in swaps} - v2
        return {**self.pool_tokens(others, store=False), **self.pool_tokens(v2)}

    def algebra_pools(self, addresses: Iterable[str]) -> set[str]:
        """Which pools emitting Uniswap V3's Swap topic are Algebra pools (they answer ``globalState()``).

        One Multicall3 read for pools never seen, cached for the process.
        """
        wanted = set(addresses)
        missing = sorted(a for a in wanted if a not in self._algebra)
        if missing:
            results = self.client.multicall([Call(a, GLOBAL_STATE) for a in missing])
            for address, result in zip(missing, results, strict=True):
                self._algebra[address] = bool(result.success and len(result.data) >= 64)
        return {a for a in wanted if self._algebra.get(a)}

    # ------------------------------------------------------------------ builder payments
    def fee_recipients(self, blocks: Sequence[int], headers: Mapping[int, BlockHeader]) -> dict[int, str]:
        """The address that receives each block's fees and builder payments.

        ``miner`` from the header by default (BSC's validator, anvil's
        coinbase); Polygon's Bor reports ``miner = 0x0`` there, so a registry
        entry with ``"fee_recipient": "bor_getAuthor"`` asks Bor (one call per
        block, batched). A block whose recipient is unknown measures no builder payment.
        """
        source = str(self.config.extra.get("fee_recipient", "miner"))
        if source != "bor_getAuthor":
            return {n: headers[n].miner for n in blocks if headers[n].miner}
        try:
            replies = self.client.batch([("bor_getAuthor", [hex(n)]) for n in blocks], return_errors=True)
        except MethodNotSupported:
            return {}
        return {n: checksum_address(r) for n, r in zip(blocks, replies, strict=True) if isinstance(r, str) and r}

    def call_traces(self, tx_hashes: Sequence[str]) -> dict[str, list[TokenMove]]:
        """Native coin moved by each transaction's calls (``debug_traceTransaction``, callTracer), one batch.

        A node without ``debug_*`` answers "method not supported": tracing stops
        for this process and native builder payments stay unmeasured (empty).
        """
        if not self.trace_supported or not tx_hashes:
            return {}
        options = {"tracer": "callTracer"}
        try:
            replies = self.client.batch(
                [("debug_traceTransaction", [h, options]) for h in tx_hashes], return_errors=True
            )
        except MethodNotSupported:
            self.trace_supported = False
            logger.warning("chain %s: no debug_traceTransaction; native builder payments unmeasured", self.chain_id)
            return {}
        out: dict[str, list[TokenMove]] = {}
        for tx_hash, reply in zip(tx_hashes, replies, strict=True):
            if isinstance(reply, MethodNotSupported):
                self.trace_supported = False
                return {}
            if isinstance(reply, dict):
                out[tx_hash] = native_moves_from_trace(reply)
        return out

    # ------------------------------------------------------------------ pools
    def pool_tokens(self, addresses: Iterable[str], *, store: bool = True) -> dict[str, PoolTokens]:
        """token0/token1 of each pool: cache, then the database, then one Multicall3 read for the rest.

        ``store`` False (pools seen through a V3-style Swap): resolved and cached in this process but
        not written to the pool table, which the V2 pool scanner reads as V2 pairs.
        """
        wanted = set(addresses)
        missing = [a for a in wanted if a not in self._pools]
        if missing:
            for i in range(0, len(missing), 500):
                rows = Pool.objects.filter(chain_id=self.chain_id, address__in=missing[i : i + 500]).values_list(
                    "address", "token0__address", "token1__address"
                )
                for address, token0, token1 in rows:
                    self._pools[address] = PoolTokens(token0, token1)
            unresolved = [a for a in missing if a not in self._pools]
            if unresolved:
                self._pools.update(self.resolve_pools(unresolved, store=store))
        return {a: p for a in wanted if (p := self._pools.get(a)) is not None}

    def resolve_pools(self, addresses: Sequence[str], *, store: bool = True) -> dict[str, PoolTokens | None]:
        """Pools not in the database: token0()/token1()/factory() in one Multicall3 read, then stored.

        A pool whose factory is no configured DEX is stored with ``dex=None``
        (unknown DEX) and still counts. Addresses that do not answer
        token0()/token1() are not V2 pairs: cached as None, never asked again.
        """
        calls = [Call(a, selector) for a in addresses for selector in (abis.TOKEN0, abis.TOKEN1, abis.FACTORY)]
        results = self.client.multicall(calls)
        found: dict[str, tuple[str, str, str | None]] = {}
        for i, address in enumerate(addresses):
            t0, t1, factory = results[3 * i : 3 * i + 3]
            if not (t0.success and t1.success and len(t0.data) >= 32 and len(t1.data) >= 32):
                continue
            factory_address = _word_address(factory.data) if factory.success and len(factory.data) >= 32 else None
            found[address] = (_word_address(t0.data), _word_address(t1.data), factory_address)
        out: dict[str, PoolTokens | None] = {a: None for a in addresses}
        if not found:
            return out
        if not store:
            out.update({address: PoolTokens(t0, t1) for address, (t0, t1, _) in found.items()})
            return out
        tokens = {t for t0, t1, _ in found.values() for t in (t0, t1)}
        known = set(Token.objects.filter(chain_id=self.chain_id, address__in=tokens).values_list("address", flat=True))
        new_tokens = sorted(tokens - known)
        decimals: dict[str, int | None] = {}
        if new_tokens:
            for token, result in zip(
                new_tokens, self.client.multicall([Call(t, abis.DECIMALS) for t in new_tokens]), strict=True
            ):
                value = int.from_bytes(result.data[:32], "big") if result.success and len(result.data) >= 32 else None
                decimals[token] = value if value is not None and value <= 255 else None
        dexes = {d.factory_address: d for d in Dex.objects.filter(chain_id=self.chain_id)}
        with transaction.atomic():
            token_rows = {
                t: Token.objects.get_or_create(
                    chain_id=self.chain_id, address=t, defaults={"decimals": decimals.get(t)}
                )[0]
                for t in tokens
            }
            for address, (t0, t1, factory_address) in found.items():
                Pool.objects.get_or_create(
                    chain_id=self.chain_id,
                    address=address,
                    defaults={
                        "token0": token_rows[t0],
                        "token1": token_rows[t1],
                        "dex": dexes.get(factory_address or ""),
                    },
                )
                out[address] = PoolTokens(t0, t1)
        self.stats.pools_resolved += len(found)
        return out

    # ------------------------------------------------------------------ prices at the block
    def pricing_pools(self, tokens: Iterable[str]) -> list[tuple[str, str, str]]:
        """(pool, token0, token1) of the pools that can price ``tokens`` and the native coin.

        Only pools between a wanted token or a quote token (stable, wrapped
        native, base) and a quote token: a handful per chain, whatever its size.
        """
        wanted = set(tokens) | self.quote_tokens
        quotes = list(self.quote_tokens)
        rows = Pool.objects.filter(chain_id=self.chain_id).filter(
            (Q(token0__address__in=quotes) & Q(token1__address__in=wanted))
            | (Q(token1__address__in=quotes) & Q(token0__address__in=wanted))
        )
        return list(rows.values_list("address", "token0__address", "token1__address"))

    def reserves_at_blocks(
        self, blocks: Sequence[int], pools: Sequence[str]
    ) -> dict[int, dict[str, tuple[int, int]] | None]:
        """getReserves of ``pools`` at the end of each block: one Multicall3 eth_call per block, one batch, cached.

        A node without the state of that block (pruned, not archive) answers
        with an error: None for that block (unpriced, never today's reserves).
        """
        pools = sorted(pools)
        out: dict[int, dict[str, tuple[int, int]] | None] = {}
        missing = []
        for block in blocks:
            cached = self._reserves_at.get((block, tuple(pools)))
            if cached is not None:
                out[block] = cached
            else:
                missing.append(block)
        if not missing:
            return out
        if not pools:
            return {**out, **{block: {} for block in missing}}
        data = aggregate3_encode([Call(p, abis.GET_RESERVES) for p in pools])
        replies = self.client.batch(
            [("eth_call", [{"to": self.config.multicall3, "data": data}, hex(block)]) for block in missing],
            return_errors=True,
        )
        for block, reply in zip(missing, replies, strict=True):
            if isinstance(reply, Exception) or not reply:
                logger.warning("chain %s: no state at block %s (%s): arbitrages unpriced", self.chain_id, block, reply)
                out[block] = None
                continue
            results = aggregate3_decode(bytes.fromhex(reply[2:]))
            reserves: dict[str, tuple[int, int]] = {}
            for pool, (ok, raw) in zip(pools, results, strict=True):
                pair = abis.decode_reserves(raw) if ok else None
                if pair is not None:
                    reserves[pool] = pair
            self._reserves_at.put((block, tuple(pools)), reserves)
            out[block] = reserves
        return out

    def prices_at_blocks(self, tokens_by_block: Mapping[int, Iterable[str]]) -> dict[int, BlockPrices]:
        """USD of each block's tokens and of the native coin, from the state before the block (its parent).

        An arbitrage moves the pools it trades: pricing it at the end of its own
        block would price it after the fact. Two queries and one JSON-RPC batch
        for the whole scanned range.
        """
        wanted = {t for tokens in tokens_by_block.values() for t in tokens}
        pools = self.pricing_pools(wanted)
        parents = {block: block - 1 for block in tokens_by_block}
        reserves = self.reserves_at_blocks(sorted(set(parents.values())), [p for p, _, _ in pools])
        all_tokens = wanted | {t for _, t0, t1 in pools for t in (t0, t1)}
        rows = Token.objects.filter(
            chain_id=self.chain_id, address__in=list(all_tokens), decimals__isnull=False
        ).values_list("address", "decimals")
        decimals = {address: places for address, places in rows if places is not None}
        out: dict[int, BlockPrices] = {}
        for block, tokens in tokens_by_block.items():
            at = reserves[parents[block]]
            if at is None:
                out[block] = BlockPrices(native_usd=None, decimals=decimals, source="unavailable")
                continue
            if not self.config.wrapped_native:
                out[block] = BlockPrices(native_usd=None, decimals=decimals)
                continue
            book = PriceBook(
                decimals=decimals,
                stable_tokens=self.config.stable_tokens,
                wrapped_native=self.config.wrapped_native,
                base_tokens=self.config.base_tokens,
                min_liquidity_usd=Decimal(str(settings.TX_PRICE_MIN_LIQUIDITY_USD)),
                pools=[PoolReserves(p, t0, t1, *at[p]) for p, t0, t1 in pools if p in at],
            )
            token_usd = {t: price for t in tokens if (price := book.price_usd(t)) is not None}
            out[block] = BlockPrices(native_usd=book.native_price_usd(), token_usd=token_usd, decimals=decimals)
        return out

    def prices_at(self, block_number: int, tokens: Iterable[str]) -> BlockPrices:
        """USD of ``tokens`` and of the native coin for an arbitrage in ``block_number`` (its parent's state)."""
        return self.prices_at_blocks({block_number: set(tokens)})[block_number]


# ---------------------------------------------------------------------- entry points

_MONITORS: dict[tuple[int, int], ArbitrageMonitor] = {}


def monitor_for(config: ChainConfig, client: MonitorClient) -> ArbitrageMonitor:
    """One monitor per (chain, client) per process, so its pool cache survives between runs."""
    key = (config.chain_id, id(client))
    monitor = _MONITORS.get(key)
    if monitor is None or monitor.config != config:
        monitor = _MONITORS[key] = ArbitrageMonitor(config=config, client=client)
    return monitor


def monitor_scan(*, chain_id: int, max_blocks: int | None = None) -> ScanReport:
    """The live scan: the shared ``scan_run`` loop with this processor; the run's counts in ``report.extra``."""
    config = chain_config_get(chain_id)
    client = chain_client(config)
    monitor = monitor_for(config, client)
    before = dataclasses.replace(monitor.stats)
    report = scan_run(chain_id, monitor, max_blocks=max_blocks, config=config, client=client)
    after = monitor.stats
    report.extra.update(
        swap_txs=after.swap_txs - before.swap_txs,
        arbitrage_txs=after.arbitrage_txs - before.arbitrage_txs,
        already_stored=after.already_stored - before.already_stored,
        reverted_or_missing=after.reverted_or_missing - before.reverted_or_missing,
        transactions=after.recorded - before.recorded,
    )
    return report
