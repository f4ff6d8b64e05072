"""Concentrated-liquidity pools (Uniswap V3, PancakeSwap V3, Algebra): discovery, state, storage.

Discovery: the factory's ``PoolCreated`` (Uniswap, PancakeSwap) or ``Pool`` (Algebra) logs,
in the same ranged log call as the scanner's other topics; a pool is tracked when both its
tokens are allowed (``chains.pools.pool_token_allowlist``). Its state row starts as the
factory leaves it (uninitialized: fee and spacing from the event), as of the block before
its creation: every later change is one of the pool's own logs, which the scanner applies
in order. The state is therefore exact without one RPC read.

Pools tracked without their creation logs (a scan starting at the head of a real chain, a
backfill's market at its first block, a reorg) are read with Multicall3 at one block
(``cl_state_read``): the slot getter (``slot0``/``globalState``: price, tick, Algebra's fee),
``liquidity``, ``tickSpacing``; then **every** tick bitmap word of the usable tick range
(``tickBitmap``/Algebra V1's ``tickTable``: 2·887272/spacing/256 words, 6,932 at spacing 1, 116 at
spacing 60) and ``ticks(i)`` of every initialized tick they mark; an Algebra V1.9 pool's ticks are
a linked list walked from MIN_TICK with ``ticks(i).nextTick`` (one round trip per tick: discovery
only). So a state read on chain holds the same initialized ticks as one built from the pool's
events, and a backfill evaluates a block exactly as the live scanner did (the same rows). Then
Mint/Burn/Swap (and Algebra's Fee) logs keep it current: RPC per block is O(1) in the number of
pools.

Faults: a read that fails (no code at that block, a revert, a bitmap word or tick unreadable)
leaves the pool without state (not traded through) and says so in the log; a state is always stored together with the
scan cursor, so after a crash the stored states sit at the cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from django.db import connection, transaction
from django.db.models import Field
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from chains.config import ChainConfig
from chains.models import ConcentratedPoolState, Dex, Pool
from chains.pools import PairInfo, _allowed, _ensure_chain_and_dexes, pool_register, pool_token_allowlist
from dexes.families import CL_FAMILIES, ClFamily
from dexes.uniswap_v3.events import PoolCreatedEvent
from dexes.uniswap_v3.pool import V3PoolState, bitmap_word_positions, ticks_in_bitmap_word
from dexes.uniswap_v3.tick_math import MAX_TICK, MIN_TICK
from evm.abis import EventDecodeError
from evm.rpc import Call, ChainClient, LogRecord

logger = logging.getLogger(__name__)

# Most ticks an Algebra V1.9 linked-list walk reads (one round trip each).
CL_LINKED_TICKS_MAX = 2_000


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


_LIQUIDITY = _selector("liquidity()")
_TICK_SPACING = _selector("tickSpacing()")
_FEE = _selector("fee()")


def _word(data: bytes, index: int, *, signed: bool = False) -> int:
    value = int.from_bytes(data[32 * index : 32 * index + 32], "big")
    if signed and value >= 1 << 255:
        value -= 1 << 256
    return value


@dataclass(frozen=True, slots=True)
class ClStateRead:
    """A state read on chain, and the tick range whose initialized ticks it holds (None: all of them)."""

    state: V3PoolState
    window: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class ClPoolInfo:
    """A concentrated-liquidity pool as its factory announced it."""

    dex: str
    family: str
    address: str
    token0: str
    token1: str
    fee: int  # millionths; Algebra: 0 (dynamic)
    tick_spacing: int
    block_number: int | None = None  # block of the creation log


# --- discovery --------------------------------------------------------------------------------


def cl_pools_created(config: ChainConfig, logs: Iterable[LogRecord]) -> list[ClPoolInfo]:
    """Pools announced by the configured concentrated-liquidity factories in ``logs``. Pure."""
    found = []
    for log in logs:
        dex = config.cl_dex_by_factory(log.address)
        if dex is None:
            continue
        family = CL_FAMILIES[dex.family]
        if log.topic0 != family.creation_topic:
            continue
        try:
            created: PoolCreatedEvent = family.decode_creation(log)
        except EventDecodeError:
            continue
        found.append(
            ClPoolInfo(
                dex=dex.name,
                family=dex.family,
                address=to_checksum_address(created.pool),
                token0=to_checksum_address(created.token0),
                token1=to_checksum_address(created.token1),
                fee=created.fee or family.new_state(fee=0, tick_spacing=1).fee,
                tick_spacing=created.tick_spacing,
                block_number=log.block_number,
            )
        )
    return found


def cl_pool_register_created(
    *,
    config: ChainConfig,
    client: ChainClient,
    logs: Iterable[LogRecord],
    allowlist: frozenset[str] | str | None = "default",
) -> list[Pool]:
    """Track the pools created in ``logs`` (allowed tokens), each with its state as its factory left it.

    Idempotent: a pool already tracked keeps its row and state. Token metadata is read before
    the insert (``pool_register``); the inserts are one short transaction.
    """
    allow = pool_token_allowlist(config) if allowlist == "default" else allowlist
    assert not isinstance(allow, str)
    infos = [
        p for p in cl_pools_created(config, logs) if _allowed(PairInfo(p.dex, p.address, p.token0, p.token1), allow)
    ]
    if not infos:
        return []
    _ensure_chain_and_dexes(config)
    cl_dexes_ensure(config)
    pool_register(
        chain_id=config.chain_id,
        client=client,
        pairs=[PairInfo(p.dex, p.address, p.token0, p.token1) for p in infos],
        block=None,
        with_reserves=False,
    )
    # Every announced pool without a state row gets the factory's (a new pool, or one tracked before its
    # state was: a registry entry, a rescan that dropped the states).
    by_address = {p.address: p for p in infos}
    pools = list(Pool.objects.filter(chain_id=config.chain_id, address__in=list(by_address), cl_state__isnull=True))
    rows = []
    for pool in pools:
        info = by_address[pool.address]
        state = CL_FAMILIES[info.family].new_state(fee=info.fee, tick_spacing=info.tick_spacing)
        rows.append(cl_state_row(pool.pk, state, block=max((info.block_number or 1) - 1, 0)))
    with transaction.atomic():
        ConcentratedPoolState.objects.bulk_create(rows, ignore_conflicts=True)
        # last_block: the pool has no reserves to read (``pool_reserves_read_unread`` skips it).
        for pool in pools:
            Pool.objects.filter(pk=pool.pk, last_block__isnull=True).update(
                last_block=max((by_address[pool.address].block_number or 1) - 1, 0)
            )
    return pools


def cl_pool_register_listed(*, config: ChainConfig, client: ChainClient) -> list[Pool]:
    """Track the registry's ``cl_pools`` not tracked yet (no state: the scanner reads it at its next parent
    block, ``cl_states_read_missing``, or builds it from the creation logs when it scans them)."""
    if not config.cl_pools:
        return []
    known = set(
        Pool.objects.filter(chain_id=config.chain_id, address__in=[p.address for p in config.cl_pools]).values_list(
            "address", flat=True
        )
    )
    missing = [p for p in config.cl_pools if p.address not in known]
    if not missing:
        return []
    _ensure_chain_and_dexes(config)
    cl_dexes_ensure(config)
    return pool_register(
        chain_id=config.chain_id,
        client=client,
        pairs=[PairInfo(p.dex, p.address, p.token0, p.token1) for p in missing],
        block=None,
        with_reserves=False,
    )


def cl_dexes_ensure(config: ChainConfig) -> None:
    """The registry's concentrated-liquidity DEX rows (family set, fee 0: each pool has its own)."""
    for dex in config.cl_dexes:
        Dex.objects.update_or_create(
            chain_id=config.chain_id,
            factory_address=dex.factory,
            defaults={"name": dex.name, "fee_bps": 0, "family": dex.family},
        )


# --- state from chain ---------------------------------------------------------------------------


def cl_state_read(
    *, client: ChainClient, pools: Sequence[tuple[str, str]], block: int, fees: Mapping[str, int] | None = None
) -> dict[str, ClStateRead | None]:
    """(address, family) pools' state at ``block`` with Multicall3 (see the module docstring); None where
    the pool cannot be read there. ``fees``: known fixed fees (else ``fee()`` is read)."""
    if not pools:
        return {}
    fees = fees or {}
    calls: list[Call] = []
    for address, family_name in pools:
        family = CL_FAMILIES[family_name]
        calls += [
            Call(address, _selector(family.slot_selector)),
            Call(address, _LIQUIDITY),
            Call(address, _TICK_SPACING),
            Call(address, _FEE),
        ]
    results = client.multicall(calls, block=block)
    heads: dict[str, tuple[ClFamily, int, int, int, int, int]] = {}
    out: dict[str, ClStateRead | None] = {}
    for i, (address, family_name) in enumerate(pools):
        family = CL_FAMILIES[family_name]
        slot, liquidity, spacing, fee = results[4 * i : 4 * i + 4]
        if not (slot.ok and liquidity.ok and spacing.ok):
            logger.info("no concentrated-liquidity state for %s at block %d (not deployed yet?)", address, block)
            out[address] = None
            continue
        price = _word(slot.data, 0)
        tick = _word(slot.data, 1, signed=True)
        if family.fee_word is not None:
            fee_value = _word(slot.data, family.fee_word)
        elif address in fees:
            fee_value = fees[address]
        elif fee.ok:
            fee_value = _word(fee.data, 0)
        else:
            out[address] = None
            continue
        heads[address] = (family, price, tick, _word(liquidity.data, 0), fee_value, _word(spacing.data, 0, signed=True))
    ticks, windows, failed = _ticks_read(client=client, heads=heads, block=block)
    for address, (family, price, tick, in_range, fee_value, tick_spacing) in heads.items():
        if address in failed:
            logger.warning("concentrated-liquidity pool %s: ticks not all readable at block %d", address, block)
            out[address] = None
            continue
        state = family.state_class.from_chain(
            sqrt_price_x96=price,
            tick=tick,
            liquidity=in_range,
            fee=fee_value,
            tick_spacing=tick_spacing,
            ticks=ticks.get(address, {}),
        )
        out[address] = ClStateRead(state, windows.get(address))
    return out


def _ticks_read(
    *, client: ChainClient, heads: Mapping[str, tuple[ClFamily, int, int, int, int, int]], block: int
) -> tuple[dict[str, dict[int, tuple[int, int]]], dict[str, tuple[int, int]], set[str]]:
    """Every initialized tick of each pool: ({pool: {tick: (gross, net)}}, {pool: the tick range it holds, where
    not all of them}, {pools whose ticks could not all be read})."""
    ticks_of = _selector("ticks(int24)")
    failed: set[str] = set()
    word_calls: list[tuple[str, int, Call]] = []
    for address, (family, _price, _tick, _liq, _fee, spacing) in heads.items():
        if family.tick_search != "bitmap":
            continue
        # Every word of the usable range: a state read on chain knows what one built from events knows.
        for word in bitmap_word_positions(0, spacing, MAX_TICK):
            word_calls.append(
                (address, word, Call(address, _selector(family.bitmap_selector) + encode(["int16"], [word])))
            )
    words = client.multicall([c for _, _, c in word_calls], block=block) if word_calls else []
    tick_calls: list[tuple[str, int]] = []
    for (address, word, _), result in zip(word_calls, words, strict=True):
        if not result.ok:
            failed.add(address)
            continue
        bits = _word(result.data, 0)
        if bits:
            tick_calls += [(address, index) for index in ticks_in_bitmap_word(word, bits, heads[address][5])]
    out: dict[str, dict[int, tuple[int, int]]] = {}
    if tick_calls:
        results = client.multicall(
            [Call(a, ticks_of + encode(["int24"], [index])) for a, index in tick_calls], block=block
        )
        for (address, index), result in zip(tick_calls, results, strict=True):
            if result.ok:
                out.setdefault(address, {})[index] = (_word(result.data, 0), _word(result.data, 1, signed=True))
            else:
                failed.add(address)
    windows: dict[str, tuple[int, int]] = {}
    for address, _head in ((a, h) for a, h in heads.items() if h[0].tick_search == "linked"):
        # Algebra V1.9: ticks(i) = (liquidityTotal, liquidityDelta, outer0, outer1, prevTick, nextTick, ...).
        ticks: dict[int, tuple[int, int]] = {}
        index = MIN_TICK
        complete = False
        for _ in range(CL_LINKED_TICKS_MAX):
            (result,) = client.multicall([Call(address, ticks_of + encode(["int24"], [index]))], block=block)
            if not result.ok:
                break
            gross, net = _word(result.data, 0), _word(result.data, 1, signed=True)
            if gross and MIN_TICK < index < MAX_TICK:
                ticks[index] = (gross, net)
            following = _word(result.data, 5, signed=True)
            if index >= MAX_TICK or following <= index:
                complete = True
                break
            index = following
        out[address] = ticks
        if not complete:  # the walk stopped early: what lies above the last tick read is unknown
            windows[address] = (MIN_TICK, index)
    return out, windows, failed


# --- storage ------------------------------------------------------------------------------------


def cl_state_ticks_json(state: V3PoolState) -> dict[str, list[str]]:
    return {str(t): [str(info.liquidity_gross), str(info.liquidity_net)] for t, info in state.ticks.items()}


def cl_state_row(
    pool_id: int, state: V3PoolState, *, block: int | None, window: tuple[int, int] | None = None
) -> ConcentratedPoolState:
    return ConcentratedPoolState(
        pool_id=pool_id,
        sqrt_price_x96=state.sqrt_price_x96,
        tick=state.tick,
        liquidity=state.liquidity,
        fee=state.fee,
        tick_spacing=state.tick_spacing,
        ticks=cl_state_ticks_json(state),
        has_limit_orders=bool(getattr(state, "has_limit_orders", False)),
        block_number=block,
        known_tick_lower=window[0] if window else None,
        known_tick_upper=window[1] if window else None,
    )


def cl_state_from_values(
    *,
    family: str,
    sqrt_price_x96: int,
    tick: int,
    liquidity: int,
    fee: int,
    tick_spacing: int,
    ticks: Mapping[str, Sequence[str]],
    has_limit_orders: bool = False,
) -> V3PoolState:
    """A pool state from its stored row's values."""
    state = CL_FAMILIES[family].state_class.from_chain(
        sqrt_price_x96=sqrt_price_x96,
        tick=tick,
        liquidity=liquidity,
        fee=fee,
        tick_spacing=tick_spacing,
        ticks={int(t): (int(g), int(n)) for t, (g, n) in ticks.items()},
    )
    if has_limit_orders:
        state.has_limit_orders = True  # type: ignore[attr-defined]
    return state


def cl_states_store(
    *,
    rows: Sequence[tuple[int, V3PoolState, int]],
    forward_only: bool = True,
    windows: Mapping[int, tuple[int, int] | None] | None = None,
) -> None:
    """UPDATE (pool id, state, block) rows with one executemany; ``forward_only`` never moves a state back.
    ``windows``: pool id -> known tick range, for states read on chain (else the stored range stays)."""
    if not rows:
        return
    meta = ConcentratedPoolState._meta
    quote = connection.ops.quote_name
    names = ["sqrt_price_x96", "tick", "liquidity", "fee", "tick_spacing", "ticks", "has_limit_orders", "block_number"]
    if windows is not None:
        names += ["known_tick_lower", "known_tick_upper"]
    fields = [cast(Field, meta.get_field(n)) for n in names]
    assignments = ", ".join(f"{quote(f.column or f.name)} = %s" for f in fields)
    block_column = quote(cast(Field, meta.get_field("block_number")).column or "block_number")
    pool_column = quote(cast(Field, meta.get_field("pool")).column or "pool_id")
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {pool_column} = %s"
    if forward_only:
        sql += f" AND ({block_column} IS NULL OR {block_column} <= %s)"
    params = []
    for pool_id, state, block in rows:
        row = cl_state_row(pool_id, state, block=block, window=(windows or {}).get(pool_id))
        values = [f.get_db_prep_value(getattr(row, f.attname), connection) for f in fields]
        params.append((*values, pool_id, *((block,) if forward_only else ())))
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def cl_states_read_missing(*, chain_id: int, client: ChainClient, block: int) -> list[tuple[int, ClStateRead]]:
    """(pool id, state at ``block``) of tracked concentrated-liquidity pools that have no state row yet
    (listed in the registry, or tracked before their DEX's family was known). Reads only."""
    pools = list(
        Pool.objects.filter(chain_id=chain_id, dex__family__in=list(CL_FAMILIES), cl_state__isnull=True).values_list(
            "pk", "address", "dex__family"
        )
    )
    states = cl_state_read(client=client, pools=[(a, f) for _, a, f in pools], block=block)
    return [(pk, read) for pk, address, _ in pools if (read := states.get(address)) is not None]


def cl_states_insert(*, rows: Sequence[tuple[int, ClStateRead]], block: int) -> None:
    ConcentratedPoolState.objects.bulk_create(
        [cl_state_row(pk, read.state, block=block, window=read.window) for pk, read in rows], ignore_conflicts=True
    )


def cl_states_read_touched(*, chain_id: int, client: ChainClient, from_block: int) -> list[tuple[int, ClStateRead]]:
    """After a reorg: (pool id, state at ``from_block - 1``) of pools whose stored state is from ``from_block`` on."""
    rows = list(
        ConcentratedPoolState.objects.filter(pool__chain_id=chain_id, block_number__gte=from_block).values_list(
            "pool_id", "pool__address", "pool__dex__family", "fee"
        )
    )
    fixed = {a: fee for _, a, family, fee in rows if CL_FAMILIES[family].fee_word is None}
    states = cl_state_read(
        client=client, pools=[(a, f) for _, a, f, _ in rows], block=max(from_block - 1, 0), fees=fixed
    )
    return [(pk, read) for pk, address, _, _ in rows if (read := states.get(address)) is not None]


# --- events -------------------------------------------------------------------------------------


def cl_events_by_block(logs: Iterable[LogRecord], families: Mapping[str, str]) -> dict[int, list[tuple[str, object]]]:
    """block → [(pool, decoded event)] in log order, for pools in ``families`` (lower-case address → family).

    Logs of other contracts (including same-topic events of untracked pools) are ignored; an
    undecodable log of a tracked pool is skipped with a warning. Pure.
    """
    out: dict[int, list[tuple[str, object]]] = {}
    for log in sorted(logs, key=lambda log: (log.block_number, log.log_index)):
        address = log.address.lower()
        family_name = families.get(address)
        if family_name is None:
            continue
        family = CL_FAMILIES[family_name]
        if log.topic0 not in family.event_topics:
            continue
        try:
            event = family.decode_event(log)
        except EventDecodeError:
            logger.warning("undecodable %s log of pool %s in block %d", family_name, address, log.block_number)
            continue
        if event is not None:
            out.setdefault(log.block_number, []).append((address, event))
    return out
