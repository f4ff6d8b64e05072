"""PoolScanner: the block processor that turns Sync logs into opportunities.

Per chain and per worker process, a ``ChainMarket`` keeps every tradable pool in
a ``PoolGraph`` and every priced pool in a ``PriceBook``, loaded from the
database on first use and then updated from Sync logs block by block. For each
block only the pools whose reserves changed in that block are re-evaluated: the
best 2-/3-hop cycle through each, priced in USD from the chain itself, net of
an estimated gas cost (gas units per hop count × the block's base fee + tip).
Pools whose best cycle clears ``OPPORTUNITY_MIN_PROFIT_USD`` become opportunity
rows for that (pool, block), written in the scanning transaction and broadcast
after it commits.

The in-memory market is only trusted when it sits exactly at the cursor the
batch continues from; anything else (another worker advanced the cursor, a
rolled-back transaction, a reorg) rebuilds it from the database, whose pool
reserves and cursor move together.

New pools arrive live: ``PairCreated`` logs of the configured factories are in
the same ranged log call as the Syncs; the pool is registered
(``chains.pools``), its tokens' metadata read and probed for a fee on transfer
(``chains.tokens``), its reserves read at the batch's parent block, and it joins
the market before the batch's blocks are evaluated.

Backfills (``batch.live`` False) are evaluated from history: the reserves of
every tracked pool at the range's parent block (one Multicall3 read, archive
state), then the range's Syncs replayed block by block in a market of the
backfill's own. They write opportunities (no broadcast) and never pool
reserves: the stored ones are the live scanner's, which must not move back.

Tokens with unknown decimals and fee-on-transfer tokens are never traded
through (their pools stay out of the graph); pools of unknown DEXes (no fee)
neither. Prices ignore pools shallower than ``PRICE_MIN_LIQUIDITY_USD``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

from django.conf import settings

from chains.fees import pool_fee_refresh_blocks, pool_fees_fetch, pool_fees_forget_from, pool_fees_write
from chains.pools import (
    ReserveUpdate,
    pool_register_created,
    pool_reserves_fetch,
    pool_reserves_read_touched,
    pool_reserves_read_unread,
    pool_reserves_store,
    pool_reserves_write_read,
    sync_updates_by_block,
)
from chains.pricing import PoolReserves, PriceBook
from chains.tokens import token_metadata_complete, token_metadata_refresh
from chains.v3pools import (
    ClStateRead,
    cl_events_by_block,
    cl_pool_register_created,
    cl_pool_register_listed,
    cl_pools_created,
    cl_state_read,
    cl_states_insert,
    cl_states_read_missing,
    cl_states_read_touched,
    cl_states_store,
)
from dexes.families import ALGEBRA, ALGEBRA_V1, CL_FAMILIES, cl_topics
from dexes.uniswap_v2.events import PAIR_CREATED_TOPIC, SYNC_TOPIC
from dexes.uniswap_v3.pool import V3PoolState
from opportunities.cycles import CycleResult, Pool, PoolGraph, imbalance_pct, virtual_reserves
from opportunities.gas import GasFloors, GasPrice, GasPriceSource, block_tips_fetch, gas_price, gas_price_wei
from opportunities.selectors import PoolRow, TokenRow, scanner_cl_states, scanner_pools, scanner_tokens
from opportunities.services import OpportunityDraft, opportunity_delete_from_block, opportunity_record_many

logger = logging.getLogger(__name__)

_WEI_PER_NATIVE = Decimal(10**18)
# Beyond this a profit would overflow the profit_usd / profit_native columns (and wedge the chain); with the
# pricing liquidity floor only a misconfigured floor (PRICE_MIN_LIQUIDITY_USD=0) gets there.
IMPLAUSIBLE_PROFIT_USD = Decimal(10**15)
_FEE_UNREAD = "per-pair fee not read yet"
# Relative slack when a float profit bound in USD (float token values) is compared with Decimal USD figures.
_BOUND_MARGIN = 1e-6
# Algebra pools recompute their fee from a volatility oracle on the first swap of each block (timestamp); the
# oracle is not modelled, so the next swap's fee is unknown and a quote could be off: tracked, not traded through.
UNPREDICTABLE_FEE_FAMILIES = frozenset({ALGEBRA, ALGEBRA_V1})


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class ScanPolicy:
    """What counts as an opportunity: the profit floor and the gas model."""

    min_profit_usd: Decimal
    gas_2hop: int = 150_000
    gas_3hop: int = 200_000
    gas_per_extra_hop: int = 50_000
    priority_fee_wei: int = 0  # the operator's floor on the tip (GAS_PRIORITY_FEE_WEI)
    priority_fee_percentile: float = 50.0  # which tip of the block's transactions (opportunities.gas)

    @classmethod
    def from_settings(cls, **overrides: Any) -> ScanPolicy:
        values: dict[str, Any] = {
            "min_profit_usd": Decimal(str(settings.OPPORTUNITY_MIN_PROFIT_USD)),
            "gas_2hop": settings.GAS_2HOP,
            "gas_3hop": settings.GAS_3HOP,
            "gas_per_extra_hop": settings.GAS_PER_EXTRA_HOP,
            "priority_fee_wei": settings.GAS_PRIORITY_FEE_WEI,
            "priority_fee_percentile": settings.GAS_PRIORITY_FEE_PERCENTILE,
        }
        values.update(overrides)
        if not isinstance(values["min_profit_usd"], Decimal):
            values["min_profit_usd"] = Decimal(str(values["min_profit_usd"]))
        return cls(**values)

    def gas_units(self, hops: int) -> int:
        if hops <= 2:
            return self.gas_2hop
        return self.gas_3hop + (hops - 3) * self.gas_per_extra_hop

    def gas_price_wei(
        self,
        base_fee_wei: int | None,
        *,
        observed_tip_wei: int | None = None,
        min_gas_price_wei: int = 0,
        min_priority_fee_wei: int = 0,
    ) -> int:
        """A block's gas price: base fee + the observed tip, floored (``opportunities.gas``)."""
        floors = GasFloors(min_gas_price_wei, min_priority_fee_wei, self.priority_fee_wei)
        return gas_price_wei(base_fee_wei=base_fee_wei, observed_tip_wei=observed_tip_wei, floors=floors)

    def gas_price(
        self,
        base_fee_wei: int | None,
        *,
        observed_tip_wei: int | None = None,
        min_gas_price_wei: int = 0,
        min_priority_fee_wei: int = 0,
    ) -> GasPrice:
        """``gas_price_wei`` and which figure set it."""
        floors = GasFloors(min_gas_price_wei, min_priority_fee_wei, self.priority_fee_wei)
        return gas_price(base_fee_wei=base_fee_wei, observed_tip_wei=observed_tip_wei, floors=floors)


# --------------------------------------------------------------------------- market


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """The chain facts the market needs (from ``chains.config.ChainConfig``)."""

    chain_id: int
    wrapped_native: str | None
    stable_tokens: tuple[str, ...]
    base_tokens: tuple[str, ...]
    min_liquidity_usd: Decimal = Decimal(0)  # a pool shallower than this (quote side) sets no price
    min_gas_price_wei: int = 0  # the chain's floors on gas (registry; opportunities.gas)
    min_priority_fee_wei: int = 0
    fee_refresh_blocks: int = 0  # per-pair fees are re-read once their last read is this many blocks old

    @classmethod
    def from_chain_config(cls, config: Any, *, min_liquidity_usd: Decimal | float | None = None) -> MarketConfig:
        if min_liquidity_usd is None:
            min_liquidity_usd = settings.PRICE_MIN_LIQUIDITY_USD
        return cls(
            chain_id=config.chain_id,
            wrapped_native=config.wrapped_native,
            stable_tokens=tuple(config.stable_tokens),
            base_tokens=tuple(config.base_tokens),
            min_liquidity_usd=Decimal(str(min_liquidity_usd)),
            min_gas_price_wei=int(getattr(config, "min_gas_price_wei", 0)),
            min_priority_fee_wei=int(getattr(config, "min_priority_fee_wei", 0)),
            fee_refresh_blocks=pool_fee_refresh_blocks(float(config.block_time)),
        )


def _norm(address: str) -> str:
    return address.lower()


class ChainMarket:
    """A chain's tracked pools in memory, at one block. Pure: no Django, no I/O.

    Addresses are compared lower-case internally; rows keep the stored spelling.
    """

    def __init__(
        self,
        *,
        config: MarketConfig,
        tokens: Mapping[str, TokenRow],
        pools: Iterable[PoolRow] = (),
        block_number: int | None = None,
        cl_states: Mapping[int, ClStateRead] | None = None,
    ) -> None:
        self.config = config
        self.block_number = block_number
        self.tokens: dict[str, TokenRow] = {_norm(a): t for a, t in tokens.items()}
        base = tuple(_norm(t) for t in config.base_tokens)
        stables = tuple(_norm(t) for t in config.stable_tokens)
        native = _norm(config.wrapped_native) if config.wrapped_native else ""
        # Prices need stables and the wrapped native among the bases: a triangle through them is a 3-hop cycle too.
        graph_bases = base or tuple(t for t in dict.fromkeys((native, *stables)) if t)
        self.graph = PoolGraph(base_tokens=graph_bases)
        self.prices = PriceBook(
            decimals={a: t.decimals for a, t in self.tokens.items() if t.decimals is not None},
            stable_tokens=stables,
            wrapped_native=native,
            base_tokens=base,
            min_liquidity_usd=config.min_liquidity_usd,
        )
        self.rows: dict[str, PoolRow] = {}  # every known pool, tradable or not
        self.pool_ids: dict[str, int] = {}  # address -> pool id, of every known pool
        self.max_pool_id = 0
        self.skipped: dict[str, str] = {}  # pool -> why it is not traded through
        self.fee_read_blocks: dict[str, int | None] = {}  # per-pair-fee pool -> block of its fee's last read
        self.last_gas_price_wei = 0  # the last non-zero gas price evaluated (a 0-priced block falls back to it)
        # Concentrated-liquidity pools: address -> family, and -> state (every such pool with a known state).
        self.cl_families: dict[str, str] = {}
        self.cl_states: dict[str, V3PoolState] = {}
        self.cl_windows: dict[str, tuple[int, int] | None] = {}  # tick range each state knows (None: all)
        self.add_pools(pools, cl_states)

    # ---- maintenance

    def add_tokens(self, tokens: Mapping[str, TokenRow]) -> None:
        for address, token in tokens.items():
            key = _norm(address)
            if key not in self.tokens:
                self.tokens[key] = token
                if token.decimals is not None:
                    self.prices.set_decimals(key, token.decimals)

    def add_pools(self, pools: Iterable[PoolRow], cl_states: Mapping[int, ClStateRead] | None = None) -> None:
        """Track pools; a concentrated-liquidity pool needs its state (``cl_states``: pool id -> state)."""
        cl_states = cl_states or {}
        for row in pools:
            key = _norm(row.address)
            self.max_pool_id = max(self.max_pool_id, row.id)
            if key in self.rows:
                continue
            self.rows[key] = row
            self.pool_ids[key] = row.id
            if row.fee_per_pair:
                self.fee_read_blocks[key] = row.fee_read_block
            t0, t1 = _norm(row.token0), _norm(row.token1)
            state = None
            reserve0, reserve1 = row.reserve0, row.reserve1
            if row.venue in CL_FAMILIES:
                self.cl_families[key] = row.venue
                read = cl_states.get(row.id)
                if read is None:
                    self.skipped[key] = "no concentrated-liquidity state yet"
                    continue
                state = self.cl_states[key] = read.state
                self.cl_windows[key] = read.window
                reserve0, reserve1 = virtual_reserves(state)
            else:
                # USD prices come from V2 pairs only (their reserves are real depth; see README's known limits).
                self.prices.add_pool(PoolReserves(key, t0, t1, reserve0, reserve1))
            reason = self._skip_reason(row, t0, t1)
            if reason:
                self.skipped[key] = reason
                continue
            self.graph.add_pool(
                Pool(
                    key,
                    row.dex,
                    t0,
                    t1,
                    reserve0,
                    reserve1,
                    int(row.fee_bps or 0),
                    state=state,
                    venue=row.venue,
                    window=self.cl_windows.get(key),
                )
            )

    def add_cl_states(self, states: Iterable[tuple[int, ClStateRead]]) -> None:
        """States read for pools the market holds without one (their rows were loaded before the read)."""
        by_id = {pk: address for address, pk in self.pool_ids.items()}
        for pk, state in states:
            address = by_id.get(pk)
            if address is None or address in self.cl_states:
                continue
            row = self.rows.pop(address)
            self.skipped.pop(address, None)
            self.add_pools([row], {pk: state})

    def apply_cl_event(self, address: str, event: object) -> bool:
        """Apply a concentrated-liquidity pool's event to its state; True if a tracked state changed.

        The graph sees the new state through ``cl_refresh`` once the block's events are applied.
        """
        state = self.cl_states.get(address)
        return state is not None and state.apply_event(event)

    def cl_refresh(self, address: str) -> bool:
        """After a block's events: the pool's virtual reserves and rates from its state; True if tradable."""
        state = self.cl_states[address]
        if address not in self.graph:
            return False
        self.graph.update_state(address, state)
        return True

    def _skip_reason(self, row: PoolRow, t0: str, t1: str) -> str:
        if row.venue in UNPREDICTABLE_FEE_FAMILIES:
            return f"{row.venue}: dynamic fee of the next block not modelled"
        if row.fee_bps is None:
            return "unknown DEX fee"
        if row.fee_per_pair and row.fee_read_block is None:
            return _FEE_UNREAD
        if t0 == t1:
            return "same token twice"
        for token in (t0, t1):
            info = self.tokens.get(token)
            if info is None or info.decimals is None:
                return f"token {token} has unknown decimals"
            if info.fee_on_transfer:
                return f"token {token} takes a fee on transfer"
        return ""

    def apply_sync(self, address: str, reserve0: int, reserve1: int) -> bool:
        """Apply a Sync; True if a tradable pool's reserves changed."""
        key = _norm(address)
        row = self.rows.get(key)
        if row is None or key in self.cl_families:
            return False  # untracked, or a V3-style pool (no Sync; getReserves of one reads as empty)
        self.prices.update_reserves(key, reserve0, reserve1)
        if key not in self.graph:
            if self.skipped.get(key) == _FEE_UNREAD:  # joins the graph with these reserves once its fee is read
                self.rows[key] = dataclasses.replace(row, reserve0=reserve0, reserve1=reserve1)
            return False
        pool = self.graph.pool(key)
        if pool.reserve0 == reserve0 and pool.reserve1 == reserve1:
            return False
        self.graph.update_reserves(key, reserve0, reserve1)
        return True

    def fee_reads_due(self, at_block: int) -> list[str]:
        """Per-pair-fee pools whose fee must be read at ``at_block``: never read, or read
        ``config.fee_refresh_blocks`` or more blocks before it (``chains.fees``)."""
        interval = self.config.fee_refresh_blocks
        return [
            self.rows[key].address
            for key, read in self.fee_read_blocks.items()
            if read is None or at_block - read >= interval
        ]

    def apply_fees(self, fees: Mapping[str, int | None], *, block: int) -> list[tuple[int, int]]:
        """Apply per-pair fees read at ``block`` (None: the read failed, the pool keeps what it had).

        A pool whose fee was never read joins the graph now. Returns (pool id, fee_bps) of what was read.
        """
        stored: list[tuple[int, int]] = []
        for address, fee in fees.items():
            key = _norm(address)
            row = self.rows.get(key)
            if fee is None or row is None or not row.fee_per_pair:
                continue
            stored.append((row.id, fee))
            self.fee_read_blocks[key] = block
            row = self.rows[key] = dataclasses.replace(row, fee_bps=fee, fee_read_block=block)
            if key in self.graph:
                if self.graph.pool(key).fee_bps != fee:
                    logger.info("chain %s: pool %s fee now %d bps (read at block %d)",
                                self.config.chain_id, row.address, fee, block)  # fmt: skip
                    self.graph.update_fee(key, fee)
            elif self.skipped.get(key) == _FEE_UNREAD:
                del self.skipped[key]
                reason = self._skip_reason(row, _norm(row.token0), _norm(row.token1))
                if reason:
                    self.skipped[key] = reason
                else:
                    self.graph.add_pool(
                        Pool(key, row.dex, _norm(row.token0), _norm(row.token1), row.reserve0, row.reserve1, fee)
                    )
        return stored

    # ---- evaluation

    def evaluate(
        self,
        changed: Iterable[str],
        *,
        block_number: int,
        block_hash: str,
        base_fee_wei: int | None,
        policy: ScanPolicy,
        observed_tip_wei: int | None = None,
    ) -> list[OpportunityDraft]:
        """Opportunities of one block: the changed pools whose best net cycle clears the floor.

        Gas is priced at ``block_gas_price`` (the block's base fee and observed tip, floored).
        """
        changed = [_norm(a) for a in changed]
        changed = [a for a in dict.fromkeys(changed) if a in self.graph]
        if not changed:
            return []
        token_value = _LazyTokenValues(self.prices)
        native_usd = self.prices.native_price_usd()
        block_gas = self.block_gas_price(base_fee_wei=base_fee_wei, observed_tip_wei=observed_tip_wei, policy=policy)
        gas_price = block_gas.wei
        results = self.graph.scan(changed, token_value=token_value)
        drafts: list[OpportunityDraft] = []
        gas_cost_cache: dict[int, tuple[Decimal, Decimal] | None] = {}

        def gas_cost(hops: int) -> tuple[Decimal, Decimal] | None:
            """(native, usd) cost of a cycle of ``hops`` hops at this block."""
            if hops not in gas_cost_cache:
                units = policy.gas_units(hops)
                native = Decimal(units * gas_price) / _WEI_PER_NATIVE
                if native == 0:
                    gas_cost_cache[hops] = (Decimal(0), Decimal(0))
                elif native_usd is None:
                    gas_cost_cache[hops] = None  # gas costs something we cannot price: cannot clear a USD floor
                else:
                    gas_cost_cache[hops] = (native, native * native_usd)
            return gas_cost_cache[hops]

        def net(result: CycleResult) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
            """(profit_usd net, profit_native net, gas usd, gross usd) of a cycle result."""
            start = result.cycle.start_token
            gross_usd = self.prices.amount_to_usd(start, result.profit)
            cost = gas_cost(len(result.cycle.hops))
            if gross_usd is None or cost is None:
                return None
            gas_native, gas_usd = cost
            with localcontext() as context:
                context.prec = 40
                gross_native = gross_usd / native_usd if native_usd else Decimal(0)
                return gross_usd - gas_usd, gross_native - gas_native, gas_usd, gross_usd

        for address in changed:
            result = results.get(address)
            if result is None:
                continue
            best = result
            best_net = net(result)
            if len(result.cycle.hops) > 2:
                # scan ranks by gross profit; a 2-hop cycle's lower gas can make it the better net trade.
                # Only a cycle whose profit bound, net of its gas, could beat the best is simulated.
                two_hop_gas = gas_cost(2)  # None: no 2-hop cycle has a net figure to compare
                for rotated in self._two_hop_paths(address, token_value) if two_hop_gas is not None else ():
                    if best_net is not None and two_hop_gas is not None:
                        floor = float(best_net[0] + two_hop_gas[1])
                        bound_usd = self.graph.profit_bound(rotated) * token_value[self.graph.path_start(rotated)]
                        if floor > 0 and bound_usd * (1 + _BOUND_MARGIN) < floor * (1 - _BOUND_MARGIN):
                            continue
                    alternative = self.graph.result(rotated)
                    if alternative is None:
                        continue
                    alternative_net = net(alternative)
                    if alternative_net is not None and (best_net is None or alternative_net[0] > best_net[0]):
                        best, best_net = alternative, alternative_net
            if best_net is None or best_net[0] < policy.min_profit_usd:
                continue
            profit_usd, profit_native, gas_usd, _ = best_net
            if profit_usd >= IMPLAUSIBLE_PROFIT_USD or abs(profit_native) >= IMPLAUSIBLE_PROFIT_USD:
                # A dust pool pricing a token absurdly; storing it would overflow the columns and wedge the chain.
                logger.warning("chain %s block %d: pool %s profit $%s is implausible; skipped",
                               self.config.chain_id, block_number, address, profit_usd)  # fmt: skip
                continue
            pool = self.graph.pool(address)
            row = self.rows[address]
            drafts.append(
                OpportunityDraft(
                    chain_id=self.config.chain_id,
                    pool_id=row.id,
                    pool_name=self.pool_name(address),
                    pool_address=row.address,
                    block_number=block_number,
                    block_hash=block_hash,
                    imbalance_pct=imbalance_pct(address, self.graph),
                    profit_usd=profit_usd,
                    profit_native=profit_native,
                    reserve0=pool.reserve0,
                    reserve1=pool.reserve1,
                    start_token=self._spelling(best.cycle.start_token),
                    venues=best.cycle.venues,
                    amount_in=best.amount_in,
                    amount_out=best.amount_out,
                    profit_raw=best.profit,
                    gas_estimate=policy.gas_units(len(best.cycle.hops)),
                    gas_cost_usd=gas_usd,
                    gas_price_wei=gas_price,
                    gas_price_source=block_gas.source.value,
                    path_pools=tuple(self.rows[p].address for p in best.cycle.pools),
                    path_tokens=tuple(self._spelling(t) for t in best.cycle.tokens),
                )
            )
        return drafts

    def block_gas_price(
        self, *, base_fee_wei: int | None, observed_tip_wei: int | None, policy: ScanPolicy
    ) -> GasPrice:
        """The block's gas price and its source (``opportunities.gas``); 0 falls back to the last non-zero one seen."""
        price = policy.gas_price(
            base_fee_wei,
            observed_tip_wei=observed_tip_wei,
            min_gas_price_wei=self.config.min_gas_price_wei,
            min_priority_fee_wei=self.config.min_priority_fee_wei,
        )
        if price.wei == 0:
            return GasPrice(self.last_gas_price_wei, GasPriceSource.LAST_SEEN) if self.last_gas_price_wei else price
        self.last_gas_price_wei = price.wei
        return price

    def _two_hop_paths(self, address: str, token_value: Mapping[str, float]) -> list[tuple[tuple[str, bool], ...]]:
        """The 2-hop cycles through a pool (not through an empty pair), each from each start token with a value."""
        graph = self.graph
        found: list[tuple[tuple[str, bool], ...]] = []
        for path in graph.cycle_paths(address):
            if len(path) != 2 or any(
                graph.pool(step[0]).state is None
                and (graph.pool(step[0]).reserve0 <= 0 or graph.pool(step[0]).reserve1 <= 0)
                for step in path
            ):
                continue  # not a 2-hop cycle, or through an empty pair
            for rotated in (path, path[::-1]):
                if token_value.get(graph.path_start(rotated), 0) > 0:
                    found.append(rotated)
        return found

    def pool_name(self, address: str) -> str:
        row = self.rows[_norm(address)]
        return f"{self._symbol(row.token0)}-{self._symbol(row.token1)}"

    def _symbol(self, token: str) -> str:
        info = self.tokens.get(_norm(token))
        return (info.symbol if info and info.symbol else token[:8]) or token[:8]

    def _spelling(self, token: str) -> str:
        info = self.tokens.get(token)
        return info.address if info else token


class _LazyTokenValues(Mapping[str, float]):
    """USD per raw unit of a token, priced on first use within one block evaluation.

    ``PriceBook.usd_per_raw_unit()`` prices every token; after a Sync on a
    wrapped-native pool that means re-pricing most of the chain. The scan only
    looks at the tokens of the changed pools' cycles, so price just those.
    """

    def __init__(self, prices: PriceBook) -> None:
        self._prices = prices
        self._values: dict[str, float] = {}

    def _value(self, token: str) -> float:
        value = self._values.get(token)
        if value is None:
            price = self._prices.price_usd(token)
            decimals = self._prices.decimals.get(token)
            value = self._values[token] = 0.0 if price is None or decimals is None else float(price) / 10**decimals
        return value

    def __getitem__(self, token: str) -> float:
        value = self._value(token)
        if value <= 0:
            raise KeyError(token)
        return value

    def get(self, token: str, default: Any = None) -> Any:  # type: ignore[override]
        value = self._values.get(token)  # the scan asks for every start token: no exception, one call on a hit
        if value is None:
            value = self._value(token)
        return value if value > 0 else default

    def __iter__(self) -> Any:
        return iter(k for k, v in self._values.items() if v > 0)

    def __len__(self) -> int:
        return sum(1 for v in self._values.values() if v > 0)


def market_load(*, config: MarketConfig, block_number: int | None, client: Any | None = None) -> ChainMarket:
    """Build a chain's market from the database (pools' stored reserves).

    With a ``client``, tokens still missing metadata (arrived through pools,
    not the registry: a bytes32 symbol, a fee-on-transfer token) get it first.
    """
    if client is not None:
        token_metadata_complete(chain_id=config.chain_id, client=client)
    return ChainMarket(
        config=config,
        tokens=scanner_tokens(chain_id=config.chain_id),
        pools=scanner_pools(chain_id=config.chain_id),
        block_number=block_number,
        cl_states=scanner_cl_states(chain_id=config.chain_id),
    )


# Per worker process: chain id -> market. Runs of one chain never overlap (the
# scan lock), so a plain dict guarded for the rare threaded worker is enough.
_MARKETS: dict[int, ChainMarket] = {}
_MARKETS_LOCK = threading.Lock()


def market_forget(chain_id: int | None = None) -> None:
    """Drop the cached market(s); the next batch rebuilds from the database."""
    with _MARKETS_LOCK:
        if chain_id is None:
            _MARKETS.clear()
        else:
            _MARKETS.pop(chain_id, None)


def market_at(*, config: MarketConfig, block_number: int, client: Any | None = None) -> ChainMarket:
    """The cached market if it sits at ``block_number`` (plus newly discovered pools), else a rebuilt one."""
    with _MARKETS_LOCK:
        market = _MARKETS.get(config.chain_id)
        if market is None or market.block_number != block_number or market.config != config:
            if market is not None:
                logger.info(
                    "chain %s: market at block %s, batch continues from %s: rebuilding from the database",
                    config.chain_id, market.block_number, block_number,
                )  # fmt: skip
            market = _MARKETS[config.chain_id] = market_load(config=config, block_number=block_number, client=client)
        else:
            new_pools = scanner_pools(chain_id=config.chain_id, after_id=market.max_pool_id)
            if new_pools:
                market.add_tokens(scanner_tokens(chain_id=config.chain_id))
                market.add_pools(new_pools, scanner_cl_states(chain_id=config.chain_id, after_id=market.max_pool_id))
        return market


# --------------------------------------------------------------------------- block processing


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    """The last Sync of a pool in a block."""

    pool: str
    reserve0: int
    reserve1: int


@dataclass(frozen=True, slots=True)
class BlockSyncs:
    number: int
    hash: str
    base_fee_per_gas: int | None
    syncs: tuple[SyncUpdate, ...]
    priority_fee_wei: int | None = None  # the block's observed tip (eth_feeHistory percentile); None: not read
    cl_events: tuple[tuple[str, object], ...] = ()  # (pool, decoded event) of V3-style pools, in log order


def market_scan_blocks(
    market: ChainMarket, blocks: Sequence[BlockSyncs], *, policy: ScanPolicy
) -> list[OpportunityDraft]:
    """Apply blocks in order, evaluating each one with its own reserves."""
    drafts: list[OpportunityDraft] = []
    for block in blocks:
        if market.block_number is None or block.number != market.block_number + 1:
            raise ValueError(f"block {block.number} does not follow the market's block {market.block_number}")
        # Unknown while moving: a failure half-way leaves a market that is rebuilt, never silently stale.
        market.block_number = None
        changed = [s.pool for s in block.syncs if market.apply_sync(s.pool, s.reserve0, s.reserve1)]
        cl_changed = [pool for pool, event in block.cl_events if market.apply_cl_event(pool, event)]
        changed += [pool for pool in dict.fromkeys(cl_changed) if market.cl_refresh(pool)]
        drafts.extend(
            market.evaluate(
                changed,
                block_number=block.number,
                block_hash=block.hash,
                base_fee_wei=block.base_fee_per_gas,
                policy=policy,
                observed_tip_wei=block.priority_fee_wei,
            )
        )
        market.block_number = block.number
    return drafts


# --------------------------------------------------------------------------- the processor


@dataclass
class PoolFetch:
    """What ``PoolScanner.fetch`` read for one batch."""

    blocks: list[BlockSyncs]  # the batch's blocks with each pool's last Sync
    market: ChainMarket  # at the batch's parent block
    unread: list[tuple[int, str, tuple[int, int]]]  # (pool id, address, reserves at the parent) of pools never read
    fees: dict[str, int | None] = dataclasses.field(default_factory=dict)  # per-pair fees read at the last block
    cl_missing: list[tuple[int, ClStateRead]] = dataclasses.field(default_factory=list)  # states read at the parent


@dataclass
class PoolPlan:
    """What ``PoolScanner.compute`` found for one batch: what ``write`` stores."""

    drafts: list[OpportunityDraft]
    parent: int
    unread: list[tuple[int, str, tuple[int, int]]]
    reserves: list[ReserveUpdate]  # each pool's last Sync of the batch (live batches only)
    pool_ids: Mapping[str, int]
    fees: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (pool id, fee_bps) read at the last block
    cl_missing: list[tuple[int, ClStateRead]] = dataclasses.field(default_factory=list)
    cl_states: list[tuple[int, V3PoolState, int]] = dataclasses.field(default_factory=list)  # (id, state, block)


class PoolScanner:
    """``BlockProcessor`` of kind "pools": Sync logs → pool reserves → opportunities.

    fetch (new pools, token metadata, reserves never read, the market) → compute
    (each block's Syncs applied and evaluated, pure) → write (reserves and
    opportunities, in the scanning transaction) → broadcast after commit.
    """

    kind = "pools"

    def __init__(
        self,
        chain_id: int,
        *,
        config: Any | None = None,
        client: Any | None = None,
        policy: ScanPolicy | None = None,
    ) -> None:
        self.chain_id = chain_id
        self._config = config
        self._client = client
        self.policy = policy or ScanPolicy.from_settings()
        self._history: ChainMarket | None = None  # the backfill's own market (non-live batches)
        self._listed_registered = False

    @property
    def config(self) -> Any:
        if self._config is None:
            from scanning.loop import chain_config_get

            self._config = chain_config_get(self.chain_id)
        return self._config

    @property
    def client(self) -> Any:
        if self._client is None:
            from chains.clients import chain_client

            self._client = chain_client(self.config)
        return self._client

    def topics(self) -> list[list[str]]:
        return [[SYNC_TOPIC, PAIR_CREATED_TOPIC, *cl_topics()]]

    def fetch(self, batch: Any) -> PoolFetch:
        """Every read of the batch, outside the scanning transaction.

        New pools (PairCreated) are registered here, in their own short
        transaction: tracking a pool is idempotent and holds before any of its
        Syncs is applied. Live batches continue the cached market and read the
        reserves of pools never read at the batch's parent block; backfills
        (``live`` False) get a market of their own past (see the module docstring).
        """
        self._config = batch.chain
        self._client = self._client or batch.client
        market_config = MarketConfig.from_chain_config(batch.chain)
        parent = batch.from_block - 1
        if not self._listed_registered:  # the registry's V3 pools, once per scanner (a query when all are known)
            cl_pool_register_listed(config=batch.chain, client=self.client)
            self._listed_registered = True
        self._pools_discover(batch)
        if not batch.live:
            market = self._history_market(market_config, at_block=parent)
            blocks = blocks_from_logs(batch.headers, batch.logs, market.cl_families, tips_fetch=self._block_tips)
            fees = self._fees_due(market, at_block=batch.to_block)
            created = _cl_created_states(batch, market, at_block=parent)
            return PoolFetch(blocks=blocks, market=market, unread=[], fees=fees, cl_missing=created)
        unread = pool_reserves_read_unread(chain_id=self.chain_id, client=self.client, block=parent)
        cl_missing = cl_states_read_missing(chain_id=self.chain_id, client=self.client, block=parent)
        market = market_at(config=market_config, block_number=parent, client=self.client)
        # A pool the cached market held before it existed (a registry entry read as "not deployed") starts from
        # its factory's state when its creation log comes, as in a backfill; its state row was just inserted.
        cl_missing += _cl_created_states(batch, market, at_block=parent)
        blocks = blocks_from_logs(batch.headers, batch.logs, market.cl_families, tips_fetch=self._block_tips)
        fees = self._fees_due(market, at_block=batch.to_block)
        return PoolFetch(blocks=blocks, market=market, unread=unread, fees=fees, cl_missing=cl_missing)

    def _block_tips(self, blocks: Sequence[int]) -> dict[int, int]:
        """The observed tip of each block with a Sync or a V3-style pool's event (one ``eth_feeHistory`` for the
        batch; none without either)."""
        if not blocks:
            return {}
        percentile = self.policy.priority_fee_percentile
        return block_tips_fetch(client=self.client, blocks=list(blocks), percentile=percentile)

    def _fees_due(self, market: ChainMarket, *, at_block: int) -> dict[str, int | None]:
        """Per-pair fees (Biswap) never read or due for a re-read (``chains.fees``), read at ``at_block``."""
        due = market.fee_reads_due(at_block)
        return pool_fees_fetch(client=self.client, pools=due, block=at_block) if due else {}

    def compute(self, batch: Any, fetched: PoolFetch) -> PoolPlan:
        """Each block evaluated with its own reserves (pure, on the in-memory market).

        The market moves to the batch's last block; if the write then fails, the
        next batch continues from an older block and rebuilds it (``market_at``).
        """
        market = fetched.market
        for _, address, (reserve0, reserve1) in fetched.unread:
            market.apply_sync(address, reserve0, reserve1)  # pools the market held as empty
        fees = market.apply_fees(fetched.fees, block=batch.to_block)
        market.add_cl_states(fetched.cl_missing)
        drafts = market_scan_blocks(market, fetched.blocks, policy=self.policy)
        if not batch.live:  # history: detected when its block was made, so it sorts among the rows of its time
            times = {h.number: datetime.fromtimestamp(h.timestamp, tz=UTC) for h in batch.headers}
            drafts = [dataclasses.replace(d, detected_at=times[d.block_number]) for d in drafts]
        reserves = (
            [ReserveUpdate(s.pool, s.reserve0, s.reserve1, b.number) for b in fetched.blocks for s in b.syncs]
            if batch.live
            else []
        )
        cl_states: list[tuple[int, V3PoolState, int]] = []
        if batch.live:
            last_event = {pool: b.number for b in fetched.blocks for pool, _ in b.cl_events}
            cl_states = [
                (market.pool_ids[pool], market.cl_states[pool].copy(), block)
                for pool, block in last_event.items()
                if pool in market.cl_states
            ]
        return PoolPlan(
            drafts=drafts,
            parent=batch.from_block - 1,
            unread=fetched.unread,
            reserves=reserves,
            pool_ids=market.pool_ids,
            fees=fees if batch.live else [],
            cl_missing=fetched.cl_missing,
            cl_states=cl_states,
        )

    def write(self, batch: Any, plan: PoolPlan) -> int:
        """Pool reserves (live batches only: a backfill never moves them back) and the opportunities."""
        if batch.live:
            pool_reserves_write_read(rows=plan.unread, block=plan.parent)
            pool_reserves_store(chain_id=self.chain_id, updates=plan.reserves, pool_ids=plan.pool_ids)
            pool_fees_write(rows=plan.fees, block=batch.to_block)
            cl_states_insert(rows=plan.cl_missing, block=plan.parent)
            cl_states_store(rows=plan.cl_states)
        return len(opportunity_record_many(drafts=plan.drafts, broadcast=batch.live))

    def _pools_discover(self, batch: Any) -> list[Any]:
        """Track the pools announced by the batch's PairCreated logs (configured factories, allowed tokens).

        Their tokens' metadata is read (``token_ensure``, for tokens never seen)
        and each token is probed for a fee on transfer with the new pool as the
        holder. The pools start with no reserves; ``fetch`` reads them.
        """
        creation_topics = {PAIR_CREATED_TOPIC, *(CL_FAMILIES[d.family].creation_topic for d in batch.chain.cl_dexes)}
        if not any(log.topic0 in creation_topics for log in batch.logs):
            return []
        created = pool_register_created(config=batch.chain, client=self.client, logs=batch.logs)
        created += cl_pool_register_created(config=batch.chain, client=self.client, logs=batch.logs)
        if created:
            holders = {token.address: pool.address for pool in created for token in (pool.token0, pool.token1)}
            token_metadata_refresh(chain_id=self.chain_id, client=self.client, tokens=list(holders), holders=holders)
            logger.info("chain %s: %d new pools tracked from PairCreated", self.chain_id, len(created))
        return created

    def _history_market(self, market_config: MarketConfig, *, at_block: int) -> ChainMarket:
        """The backfill's market at ``at_block``: kept from the previous batch when it continues it, else every
        tracked pool's reserves read at ``at_block`` (Multicall3 on archive state; a pool not deployed yet is
        empty). Pools registered since join with their reserves at ``at_block``."""
        market = self._history
        if market is None or market.block_number != at_block or market.config != market_config:
            token_metadata_complete(chain_id=self.chain_id, client=self.client)
            market = ChainMarket(config=market_config, tokens={}, block_number=at_block)
        rows = scanner_pools(chain_id=self.chain_id, after_id=market.max_pool_id)
        if rows:
            v2_rows = [row for row in rows if row.venue not in CL_FAMILIES]
            cl_rows = [row for row in rows if row.venue in CL_FAMILIES]
            reserves = pool_reserves_fetch(client=self.client, pools=[row.address for row in v2_rows], block=at_block)
            reads = cl_state_read(client=self.client, pools=[(r.address, r.venue) for r in cl_rows], block=at_block)
            market.add_tokens(scanner_tokens(chain_id=self.chain_id))
            market.add_pools(  # per-pair fees are read again at at_block (fee_read_block None): history's, not today's
                [
                    dataclasses.replace(row, reserve0=r[0], reserve1=r[1], last_block=at_block, fee_read_block=None)
                    for row in v2_rows
                    for r in [reserves[row.address] or (0, 0)]
                ]
                + cl_rows,
                {row.id: read for row in cl_rows if (read := reads.get(row.address)) is not None},
            )
        self._history = market
        return market

    def rollback_fetch(self, chain_id: int, from_block: int) -> PoolRollback:
        """Pools changed in an orphaned block: their reserves (V2) and states (V3-style) at the common ancestor."""
        return PoolRollback(
            reserves=pool_reserves_read_touched(chain_id=chain_id, client=self.client, from_block=from_block),
            cl_states=cl_states_read_touched(chain_id=chain_id, client=self.client, from_block=from_block),
        )

    def rollback(self, chain_id: int, from_block: int, fetched: PoolRollback) -> None:
        """Forget blocks >= from_block: their opportunities, and the reserves and states they set; the market is
        rebuilt."""
        market_forget(chain_id)
        removed = opportunity_delete_from_block(chain_id=chain_id, from_block=from_block)
        pool_reserves_write_read(rows=fetched.reserves, block=max(from_block - 1, 0))
        pool_fees_forget_from(chain_id=chain_id, from_block=from_block)  # per-pair fees read on the orphaned fork
        ancestor = max(from_block - 1, 0)
        cl_states_store(
            rows=[(pk, read.state, ancestor) for pk, read in fetched.cl_states],
            forward_only=False,
            windows={pk: read.window for pk, read in fetched.cl_states},
        )
        logger.warning(
            "chain %s: reorg from block %d: %d opportunities removed, %d pools' reserves and %d states re-read",
            chain_id, from_block, removed, len(fetched.reserves), len(fetched.cl_states),
        )  # fmt: skip


def _cl_created_states(batch: Any, market: ChainMarket, *, at_block: int) -> list[tuple[int, ClStateRead]]:
    """V3-style pools the market holds without a state (not deployed at its block: a backfill's first block, or a
    registry pool the live market loaded before its creation) whose creation log is in this batch start as their
    factory created them; their events follow. Pure."""
    out = []
    for info in cl_pools_created(batch.chain, batch.logs):
        key = _norm(info.address)
        pk = market.pool_ids.get(key)
        if pk is None or key in market.cl_states or (info.block_number or 0) <= at_block:
            continue
        state = CL_FAMILIES[info.family].new_state(fee=info.fee, tick_spacing=info.tick_spacing)
        out.append((pk, ClStateRead(state, None)))
    return out


@dataclass
class PoolRollback:
    reserves: list[tuple[int, str, tuple[int, int]]]
    cl_states: list[tuple[int, ClStateRead]]


def blocks_from_logs(
    headers: Sequence[Any],
    logs: Sequence[Any],
    cl_families: Mapping[str, str],
    *,
    tips_fetch: Callable[[Sequence[int]], Mapping[int, int]] | None = None,
) -> list[BlockSyncs]:
    """The batch's blocks with their Syncs and their V3-style pools' events (``cl_families``: address -> family),
    and, with ``tips_fetch``, the observed tip of each block that has either (``opportunities.gas``)."""
    per_block = sync_updates_by_block(logs)
    events = cl_events_by_block(logs, cl_families) if cl_families else {}
    tips = tips_fetch(sorted(set(per_block) | set(events))) if tips_fetch is not None else None
    blocks = blocks_from_syncs(headers, per_block, tips=tips)
    if not events:
        return blocks
    return [dataclasses.replace(b, cl_events=tuple(events.get(b.number, ()))) for b in blocks]


def blocks_from_syncs(
    headers: Sequence[Any],
    per_block: Mapping[int, Mapping[str, tuple[int, int]]],
    *,
    tips: Mapping[int, int] | None = None,
) -> list[BlockSyncs]:
    """The batch's blocks with their Syncs (``chains.pools.sync_updates_by_block``: a pool's last Sync per block)
    and observed tips (``opportunities.gas.block_tips_fetch``)."""
    tips = tips or {}
    return [
        BlockSyncs(
            number=h.number,
            hash=h.hash,
            base_fee_per_gas=h.base_fee_per_gas,
            syncs=tuple(SyncUpdate(pool, r0, r1) for pool, (r0, r1) in per_block.get(h.number, {}).items()),
            priority_fee_wei=tips.get(h.number),
        )
        for h in headers
    ]


# --------------------------------------------------------------------------- the service the task calls


def pool_scan_run(
    *,
    chain_id: int,
    max_blocks: int | None = None,
    config: Any | None = None,
    client: Any | None = None,
    policy: ScanPolicy | None = None,
) -> Any:
    """One bounded scan of a chain's pools (lock, cursor, reorgs: ``scanning.loop.scan_run``).

    Returns the ``ScanReport``; ``report.extra["opportunities"]`` counts the rows created.
    """
    from chains.clients import chain_client
    from scanning.loop import chain_config_get, scan_run

    config = config or chain_config_get(chain_id)
    client = client or chain_client(config)
    processor = PoolScanner(chain_id, config=config, client=client, policy=policy)
    report = scan_run(chain_id, processor, max_blocks=max_blocks, config=config, client=client)
    report.extra["opportunities"] = report.stored
    return report
