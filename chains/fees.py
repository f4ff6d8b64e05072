"""Per-pair swap fees (Biswap's ``swapFee()``): read from the chain, stored on the pool row.

A DEX flagged ``fee_per_pair`` in the registry charges each pair its own fee
(``dexes.uniswap_v2.pair_fee``). The fee is read through Multicall3 (one
``eth_call`` per ``RPC_MULTICALL_CHUNK`` pairs, the chunks in one JSON-RPC
batch):

* when a pair is tracked by discovery (``pool_register`` at the discovery block);
* by the pool scanner for pairs never read (registered from ``PairCreated`` or
  listed in the registry), at the batch's last block (a pair created in the
  batch exists there), before the batch is evaluated; a pair whose fee is not
  read yet is not traded through;
* again for every such pair once its last read is ``POOL_FEE_REFRESH_SECONDS``
  old (in blocks of the chain's block time), because a change is invisible
  otherwise: Biswap's ``factory.setSwapFee(pair, fee)`` → ``pair.setSwapFee``
  emits no event.

Staleness bound: a fee changed on chain in block B is used for every block
from the end of the first batch that ends at or after B + the refresh interval
(in blocks) at the latest; the blocks of that batch before B are priced at the
new fee too (a read is as of the batch's last block: for a live one-block batch,
exactly the block evaluated). Until then opportunities through that pair are
priced at its previous fee. ``POOL_FEE_REFRESH_SECONDS=0`` re-reads every batch
(tests; a refresh costs one JSON-RPC request per ~50,000 pairs: Multicall3
chunks of ``RPC_MULTICALL_CHUNK`` in one batch of ``RPC_BATCH_SIZE``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, cast

from django.conf import settings
from django.db import connection
from django.db.models import Field

from chains.models import Pool
from dexes.uniswap_v2.pair_fee import SWAP_FEE, swap_fee_bps_decode
from evm.rpc import Call, ChainClient

logger = logging.getLogger(__name__)


def pool_fees_fetch(*, client: ChainClient, pools: Sequence[str], block: int | str | None) -> dict[str, int | None]:
    """Each pair's ``swapFee()`` in basis points at ``block``; None where the call failed (no such pair there)."""
    if not pools:
        return {}
    results = client.multicall([Call(p, SWAP_FEE) for p in pools], block=block)
    return {p: swap_fee_bps_decode(r.ok, r.data) for p, r in zip(pools, results, strict=True)}


def pool_fees_write(*, rows: Sequence[tuple[int, int]], block: int) -> None:
    """Store (pool id, fee_bps) read at ``block``: one ``executemany`` UPDATE; a later read is never overwritten."""
    if not rows:
        return
    meta = Pool._meta
    quote = connection.ops.quote_name
    fee, read, pk = (
        quote(cast(Field, meta.get_field(name)).column or name) for name in ("fee_bps", "fee_read_block", "id")
    )
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {fee} = %s, {read} = %s "
        f"WHERE {pk} = %s AND ({read} IS NULL OR {read} <= %s)"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(fee_bps, block, pool, block) for pool, fee_bps in rows])


def pool_fees_forget_from(*, chain_id: int, from_block: int) -> int:
    """After a reorg from ``from_block``: fees read at orphaned blocks count as never read (read again next batch)."""
    return Pool.objects.filter(chain_id=chain_id, fee_read_block__gte=from_block).update(fee_read_block=None)


def pool_fee_refresh_blocks(block_time: float) -> int:
    """``POOL_FEE_REFRESH_SECONDS`` in blocks of this chain (0: every batch)."""
    seconds = float(settings.POOL_FEE_REFRESH_SECONDS)
    if seconds <= 0:
        return 0
    return max(math.ceil(seconds / block_time), 1)


def pool_fees_refresh(*, chain_id: int, client: ChainClient, block: int | None = None) -> int:
    """Read and store the fee of every tracked pair of the chain's per-pair-fee DEXes at ``block`` (default: head).

    Returns the number of pairs whose fee was read. Pairs whose call fails keep what they had.
    """
    block = client.block_number() if block is None else block
    pools = list(Pool.objects.filter(chain_id=chain_id, dex__fee_per_pair=True).values_list("pk", "address"))
    fees = pool_fees_fetch(client=client, pools=[a for _, a in pools], block=block)
    rows = [(pk, fee) for pk, address in pools if (fee := fees[address]) is not None]
    pool_fees_write(rows=rows, block=block)
    failed = len(pools) - len(rows)
    if failed:
        logger.warning("chain %s: swapFee() failed for %d pairs at block %d", chain_id, failed, block)
    return len(rows)


def pairs_fee_per_pair(pairs: Sequence[Any], dexes: dict[str, Any]) -> list[str]:
    """Addresses of the pairs (``PairInfo``) whose DEX row charges per pair."""
    return [p.address for p in pairs if (dex := dexes.get(p.dex)) is not None and dex.fee_per_pair]
