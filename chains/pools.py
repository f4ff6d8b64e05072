"""Pools: discovery from the configured V2 factories, and reserves from Sync logs.

No per-pool polling per block: reserves move only through ``Sync`` logs (one
ranged, topic-filtered log call per batch, whatever the number of pools), and
``getReserves`` is read in Multicall3 batches only for the initial load and
after a reorg.

Discovery is limited by a token allowlist (``POOL_TOKEN_ALLOWLIST``; by default
the registry's tokens; ``*`` for any token): a pool is tracked when both its
tokens are allowed. Small factories (at most ``POOL_ENUMERATE_MAX_PAIRS``
pairs) are enumerated with ``allPairs``; mainnet factories with hundreds of
thousands of pairs are asked ``getPair`` for every allowed token pair instead.
New pools arrive through ``PairCreated`` logs.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Field
from eth_utils import is_address, to_checksum_address

from chains.config import ChainConfig
from chains.fees import pairs_fee_per_pair, pool_fees_fetch
from chains.models import Dex, Pool
from chains.tokens import token_ensure
from dexes.uniswap_v2.events import PAIR_CREATED_TOPIC, SYNC_TOPIC, EventDecodeError, decode_pair_created, decode_sync
from evm import abis
from evm.rpc import Call, ChainClient, LogRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PairInfo:
    dex: str  # DEX name in the registry
    address: str
    token0: str
    token1: str


@dataclass(frozen=True, slots=True)
class ReserveUpdate:
    pool: str
    reserve0: int
    reserve1: int
    block_number: int


# --- allowlist ------------------------------------------------------------------------------


def pool_token_allowlist(config: ChainConfig) -> frozenset[str] | None:
    """Tokens a tracked pool may contain; None means any token.

    ``POOL_TOKEN_ALLOWLIST``: empty (default) → the registry's tokens (plus
    wrapped native, stables, bases); ``*`` → any; else comma-separated addresses.
    """
    raw = list(settings.POOL_TOKEN_ALLOWLIST)
    if raw == ["*"]:
        return None
    if raw:
        bad = [a for a in raw if not is_address(a)]
        if bad:
            raise ImproperlyConfigured(f"POOL_TOKEN_ALLOWLIST: not addresses: {bad}")
        return frozenset(to_checksum_address(a) for a in raw)
    tokens = {t.address for t in config.tokens}
    tokens |= set(config.stable_tokens) | set(config.base_tokens)
    if config.wrapped_native:
        tokens.add(config.wrapped_native)
    return frozenset(to_checksum_address(a) for a in tokens)


def _allowed(pair: PairInfo, allowlist: frozenset[str] | None) -> bool:
    return allowlist is None or (pair.token0 in allowlist and pair.token1 in allowlist)


# --- reserves ---------------------------------------------------------------------------------


def sync_updates_by_block(logs: Iterable[LogRecord]) -> dict[int, dict[str, tuple[int, int]]]:
    """block → pool → (reserve0, reserve1) of the pool's LAST Sync in that block. Pure."""
    out: dict[int, dict[str, tuple[int, int]]] = {}
    for log in sorted(logs, key=lambda log: (log.block_number, log.log_index)):
        if log.topic0 != SYNC_TOPIC:
            continue
        try:
            reserves = decode_sync(log)
        except EventDecodeError:
            logger.debug("undecodable Sync log from %s in block %d", log.address, log.block_number)
            continue  # a non-V2 contract emitting a same-named event with another shape
        out.setdefault(log.block_number, {})[log.address] = reserves
    return out


def sync_latest(logs: Iterable[LogRecord]) -> dict[str, ReserveUpdate]:
    """pool → its last Sync in the logs. Pure."""
    return sync_latest_of_blocks(sync_updates_by_block(logs))


def sync_latest_of_blocks(by_block: Mapping[int, Mapping[str, tuple[int, int]]]) -> dict[str, ReserveUpdate]:
    """pool → its last update in ``sync_updates_by_block``'s shape. Pure."""
    latest: dict[str, ReserveUpdate] = {}
    for block, pools in sorted(by_block.items()):
        for pool, (r0, r1) in pools.items():
            latest[pool] = ReserveUpdate(pool, r0, r1, block)
    return latest


def pool_reserves_apply_sync(*, chain_id: int, logs: Iterable[LogRecord]) -> dict[str, ReserveUpdate]:
    """Store tracked pools' reserves from Sync logs (the last one per pool wins).

    Logs of untracked pools are ignored. A pool already updated at a later block
    is left alone, so a backfill (``scan_range``) never moves reserves backwards.
    Returns the updates applied.
    """
    return pool_reserves_store(chain_id=chain_id, updates=sync_latest(logs).values())


def pool_reserves_store(
    *, chain_id: int, updates: Iterable[ReserveUpdate], pool_ids: Mapping[str, int] | None = None
) -> dict[str, ReserveUpdate]:
    """Store reserve updates of tracked pools; one ``executemany`` UPDATE. Never moves a pool backwards.

    ``pool_ids`` (lower-case address → pool id, e.g. the scanner's in-memory
    market) saves the lookup query; the UPDATE itself skips a pool stored at a
    later block, so without the lookup the returned updates may include such a
    pool. With the lookup (the default) they are exactly the rows changed.
    """
    by_address = {u.pool.lower(): u for u in updates}
    if not by_address:
        return {}
    if pool_ids is None:
        rows = Pool.objects.filter(chain_id=chain_id, address__in=[to_checksum_address(a) for a in by_address])
        ids = {}
        for pk, address, last_block in rows.values_list("pk", "address", "last_block"):
            update = by_address[address.lower()]
            if last_block is None or last_block <= update.block_number:
                ids[address.lower()] = pk
    else:
        ids = {a: pool_ids[a] for a in by_address if a in pool_ids}
    applied = {by_address[a].pool: by_address[a] for a in ids}
    _reserves_write([(ids[a], u.reserve0, u.reserve1, u.block_number) for a, u in by_address.items() if a in ids])
    return applied


def _reserves_write(rows: Sequence[tuple[int, int, int, int]], *, forward_only: bool = True) -> None:
    """UPDATE (id, reserve0, reserve1, last_block) rows with one executemany.

    ``forward_only`` skips a pool stored at a later block (Syncs); a re-read at
    an older block (reorg rollback) passes False. ``bulk_update`` builds a CASE
    expression through the ORM: ~1.5 ms of CPU per row, 300 ms for a 200-pool
    block; a prepared UPDATE per row costs ~20 µs.
    """
    if not rows:
        return
    meta = Pool._meta
    quote = connection.ops.quote_name
    fields = [cast(Field, meta.get_field(name)) for name in ("reserve0", "reserve1", "last_block", "id")]
    reserve = fields[0]
    r0, r1, last, pk = (quote(field.column or field.name) for field in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {r0} = %s, {r1} = %s, {last} = %s WHERE {pk} = %s"
    if forward_only:
        sql += f" AND ({last} IS NULL OR {last} <= %s)"
    params: list[Any] = [
        (
            reserve.get_db_prep_value(a, connection),
            reserve.get_db_prep_value(b, connection),
            block,
            pool,
            *((block,) if forward_only else ()),
        )
        for pool, a, b, block in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def pool_reserves_fetch(
    *, client: ChainClient, pools: Sequence[str], block: int | str | None = None
) -> dict[str, tuple[int, int] | None]:
    """getReserves of each pool through Multicall3 (one round trip per ``multicall_chunk`` × batch);
    None where the call failed (no code at that block, a revert)."""
    results = client.multicall([Call(p, abis.GET_RESERVES) for p in pools], block=block)
    return {p: abis.decode_reserves(r.data) if r.ok else None for p, r in zip(pools, results, strict=True)}


def pool_reserves_refresh(
    *, chain_id: int, client: ChainClient, pools: Iterable[str] | None = None, block: int | None = None
) -> int:
    """Re-read reserves with getReserves (all tracked pools by default) as of ``block`` (default: head).

    For the initial load and after a reorg. A pool whose call fails at that
    block (not deployed yet) is stored empty as of that block, until a Sync
    says otherwise. Returns the number of pools updated.
    """
    block = client.block_number() if block is None else block
    query = Pool.objects.filter(chain_id=chain_id)
    if pools is not None:
        pools = list(pools)
        if not pools:
            return 0
        query = query.filter(address__in=[to_checksum_address(p) for p in pools])
    rows = _reserves_read(chain_id=chain_id, client=client, pools=list(query.values_list("pk", "address")), block=block)
    pool_reserves_write_read(rows=rows, block=block)
    return len(rows)


def pool_reserves_rollback(*, chain_id: int, client: ChainClient, from_block: int) -> int:
    """After a reorg: pools updated in orphaned blocks get their reserves as of the common ancestor.

    Read first, then written: the RPC round trip never runs inside a write.
    """
    rows = pool_reserves_read_touched(chain_id=chain_id, client=client, from_block=from_block)
    pool_reserves_write_read(rows=rows, block=max(from_block - 1, 0))
    return len(rows)


def pool_reserves_read_touched(
    *, chain_id: int, client: ChainClient, from_block: int
) -> list[tuple[int, str, tuple[int, int]]]:
    """(id, address, reserves at ``from_block - 1``) of the pools last updated at or after ``from_block``."""
    touched = Pool.objects.filter(chain_id=chain_id, last_block__gte=from_block).values_list("pk", "address")
    return _reserves_read(chain_id=chain_id, client=client, pools=list(touched), block=max(from_block - 1, 0))


def pool_reserves_read_unread(
    *, chain_id: int, client: ChainClient, block: int
) -> list[tuple[int, str, tuple[int, int]]]:
    """(id, address, reserves at ``block``) of pools never read or synced (``last_block`` NULL: new in the
    registry, or announced by PairCreated). Without it such a pool would count as empty until its first Sync.

    One Multicall3 round trip per chunk of such pools; one indexed query when there is none. Reads only:
    ``pool_reserves_write_read`` stores them.
    """
    pools = list(Pool.objects.filter(chain_id=chain_id, last_block__isnull=True).values_list("pk", "address"))
    return _reserves_read(chain_id=chain_id, client=client, pools=pools, block=block)


def pool_reserves_write_read(*, rows: Sequence[tuple[int, str, tuple[int, int]]], block: int) -> None:
    """Store reserves read at ``block`` (``pool_reserves_read_*``), as of that block (even backwards)."""
    _reserves_write([(pk, reserves[0], reserves[1], block) for pk, _, reserves in rows], forward_only=False)


def _reserves_read(
    *, chain_id: int, client: ChainClient, pools: Sequence[tuple[int, str]], block: int
) -> list[tuple[int, str, tuple[int, int]]]:
    """getReserves of (id, address) pools at ``block``; a failed call (not deployed yet) reads as empty."""
    if not pools:
        return []
    fetched = pool_reserves_fetch(client=client, pools=[address for _, address in pools], block=block)
    out = []
    for pk, address in pools:
        value = fetched[address]
        if value is None:
            logger.info("chain %s: no reserves for %s at block %d (not deployed yet?)", chain_id, address, block)
        out.append((pk, address, value or (0, 0)))
    return out


# --- discovery --------------------------------------------------------------------------------


def _ensure_chain_and_dexes(config: ChainConfig) -> None:
    """Pools need their chain and DEX rows; create them from the registry entry if missing."""
    from chains.models import Chain
    from chains.services import chain_registry_sync

    if not Chain.objects.filter(chain_id=config.chain_id).exists():
        chain_registry_sync(config=config)
        return
    for dex in config.dexes:
        Dex.objects.get_or_create(
            chain_id=config.chain_id,
            factory_address=dex.factory,
            defaults={"name": dex.name, "fee_bps": dex.fee_bps, "fee_per_pair": dex.fee_per_pair},
        )


def _factory_pairs_enumerate(*, client: ChainClient, factory: str, dex: str, length: int, block: int) -> list[PairInfo]:
    pairs_results = client.multicall([Call(factory, abis.call_all_pairs(i)) for i in range(length)], block=block)
    pairs = [abis.decode_address(r.data) for r in pairs_results if r.ok]
    return _pairs_with_tokens(client=client, dex=dex, pairs=[p for p in pairs if p], block=block)


def _pairs_with_tokens(*, client: ChainClient, dex: str, pairs: Sequence[str], block: int) -> list[PairInfo]:
    calls = [Call(p, sel) for p in pairs for sel in (abis.TOKEN0, abis.TOKEN1)]
    results = client.multicall(calls, block=block)
    out = []
    for i, pair in enumerate(pairs):
        t0 = abis.decode_address(results[2 * i].data) if results[2 * i].ok else None
        t1 = abis.decode_address(results[2 * i + 1].data) if results[2 * i + 1].ok else None
        if t0 and t1:
            out.append(PairInfo(dex, to_checksum_address(pair), t0, t1))
    return out


def _factory_pairs_lookup(
    *, client: ChainClient, factory: str, dex: str, tokens: Sequence[str], block: int
) -> list[PairInfo]:
    combos = list(itertools.combinations(sorted(tokens, key=lambda a: int(a, 16)), 2))
    results = client.multicall([Call(factory, abis.call_get_pair(a, b)) for a, b in combos], block=block)
    return [
        PairInfo(dex, pair, a, b)
        for (a, b), r in zip(combos, results, strict=True)
        if r.ok and (pair := abis.decode_address(r.data))
    ]


def pool_discover(
    *,
    config: ChainConfig,
    client: ChainClient,
    allowlist: frozenset[str] | str | None = "default",
    block: int | None = None,
) -> list[Pool]:
    """Find the pools of every configured factory whose tokens are allowed and track them.

    Returns every allowed pool found (new or already tracked). All reads are
    pinned to one block (default: the head), so the pools'
    initial reserves and ``last_block`` agree. Idempotent.
    """
    allow = pool_token_allowlist(config) if allowlist == "default" else allowlist
    assert not isinstance(allow, str)
    block = client.block_number() if block is None else block
    if not config.dexes:
        return []
    _ensure_chain_and_dexes(config)
    lengths = client.multicall([Call(d.factory, abis.ALL_PAIRS_LENGTH) for d in config.dexes], block=block)
    limit = int(settings.POOL_ENUMERATE_MAX_PAIRS)
    found: list[PairInfo] = []
    for dex, result in zip(config.dexes, lengths, strict=True):
        length = abis.decode_uint(result.data) if result.ok else None
        if length is not None and length <= limit:
            pairs = _factory_pairs_enumerate(
                client=client, factory=dex.factory, dex=dex.name, length=length, block=block
            )
        elif allow is not None:
            logger.info(
                "chain %s: %s has %s pairs (> POOL_ENUMERATE_MAX_PAIRS); looking up allowed token pairs instead",
                config.chain_id,
                dex.name,
                length,
            )
            pairs = _factory_pairs_lookup(
                client=client, factory=dex.factory, dex=dex.name, tokens=sorted(allow), block=block
            )
        else:
            raise ImproperlyConfigured(
                f"chain {config.chain_id}: {dex.name} has {length} pairs, more than POOL_ENUMERATE_MAX_PAIRS={limit}, "
                "and POOL_TOKEN_ALLOWLIST is '*': set an allowlist or raise the limit"
            )
        found.extend(p for p in pairs if _allowed(p, allow))
    pool_register(chain_id=config.chain_id, client=client, pairs=found, block=block)
    addresses = [p.address for p in found]
    # Pools known before (e.g. listed in the registry) but never loaded get their reserves now.
    unloaded = Pool.objects.filter(chain_id=config.chain_id, address__in=addresses, last_block__isnull=True)
    pool_reserves_refresh(
        chain_id=config.chain_id, client=client, pools=list(unloaded.values_list("address", flat=True)), block=block
    )
    return list(Pool.objects.filter(chain_id=config.chain_id, address__in=addresses).select_related("dex"))


def pool_register(
    *, chain_id: int, client: ChainClient, pairs: Sequence[PairInfo], block: int | None, with_reserves: bool = True
) -> list[Pool]:
    """Track these pairs (creating token rows as needed); existing pools are left as they are.

    Every RPC read (token metadata, reserves) happens before the insert; the insert ignores
    pools another writer registered meanwhile, so it is idempotent.
    """
    if not pairs:
        return []
    known = set(
        Pool.objects.filter(chain_id=chain_id, address__in=[p.address for p in pairs]).values_list("address", flat=True)
    )
    new = [p for p in dict.fromkeys(pairs) if p.address not in known]
    if not new:
        return []
    tokens = token_ensure(chain_id=chain_id, client=client, addresses=[t for p in new for t in (p.token0, p.token1)])
    dexes = {d.name: d for d in Dex.objects.filter(chain_id=chain_id)}  # names are unique per chain
    reserves: dict[str, tuple[int, int] | None] = {}
    fees: dict[str, int | None] = {}
    if with_reserves:
        reserves = pool_reserves_fetch(client=client, pools=[p.address for p in new], block=block)
    if block is not None:  # per-pair fees (Biswap) read at the same block; else the pool scanner reads them
        fees = pool_fees_fetch(client=client, pools=pairs_fee_per_pair(new, dexes), block=block)
    rows = []
    for p in new:
        r = reserves.get(p.address)
        fee = fees.get(p.address)
        rows.append(
            Pool(
                chain_id=chain_id,
                dex=dexes.get(p.dex),
                address=p.address,
                token0=tokens[p.token0],
                token1=tokens[p.token1],
                reserve0=r[0] if r else 0,
                reserve1=r[1] if r else 0,
                last_block=block if r else None,
                fee_bps=fee,
                fee_read_block=block if fee is not None else None,
            )
        )
    with transaction.atomic():
        Pool.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    logger.info("chain %s: tracking %d new pools", chain_id, len(rows))
    return list(Pool.objects.filter(chain_id=chain_id, address__in=[p.address for p in new]))


def pool_register_created(
    *,
    config: ChainConfig,
    client: ChainClient,
    logs: Iterable[LogRecord],
    allowlist: frozenset[str] | str | None = "default",
) -> list[Pool]:
    """Track pools announced by ``PairCreated`` logs of the configured factories.

    Call it before ``pool_reserves_apply_sync`` on the same batch: a pair's
    first Sync often sits in the block that created it. New pools start with
    zero reserves and no ``last_block``; their Syncs fill them in.
    """
    allow = pool_token_allowlist(config) if allowlist == "default" else allowlist
    assert not isinstance(allow, str)
    pairs = []
    for log in logs:
        if log.topic0 != PAIR_CREATED_TOPIC:
            continue
        dex = config.dex_by_factory(log.address)
        if dex is None:
            continue
        try:
            token0, token1, pair, _index = decode_pair_created(log)
        except EventDecodeError:
            continue
        info = PairInfo(dex.name, pair, token0, token1)
        if _allowed(info, allow):
            pairs.append(info)
    if not pairs:
        return []
    _ensure_chain_and_dexes(config)
    return pool_register(chain_id=config.chain_id, client=client, pairs=pairs, block=None, with_reserves=False)
