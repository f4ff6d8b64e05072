"""Capture linking: which executed arbitrage took an opportunity.

An opportunity recorded at block N describes the state after block N, so an
arbitrage transaction in block B captures the opportunities of the pools it
traded through that were recorded in blocks ``B - CAPTURE_WINDOW_BLOCKS`` …
``B - 1`` and not captured yet. The first transaction (lowest block, then the
order the monitor records them) wins; the update is conditional on
``captured=False`` so concurrent writers cannot capture an opportunity twice.

The two scanners run independently, so either side can come first. Both
write through ``scanning.detections``, whose ``detections_written`` signal
runs the receivers below inside the later writer's transaction: new
transactions link the open opportunities before them
(``opportunity_capture_link_many``), new opportunities are swept against the
transactions already stored after them (``opportunity_capture_sweep``), and a
reorg's ``detections_removed`` releases what orphaned transactions captured.
The transactions app never imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from opportunities.models import Opportunity


def capture_window() -> int:
    return int(settings.CAPTURE_WINDOW_BLOCKS)


def opportunity_capture_link_many(
    *, chain_id: int, captures: Sequence[tuple[Sequence[str], int, str, str]], window: int | None = None
) -> int:
    """Mark captured the open opportunities of each transaction's pools (pools, block, sender, tx hash) in the
    window before its block, in block order (the first transaction wins).

    One SELECT finds the open opportunities any of them could have captured;
    only those get a conditional UPDATE, so a batch without captures costs one query.
    """
    window = capture_window() if window is None else window
    captures = sorted(captures, key=lambda c: c[1])
    if window <= 0 or not captures:
        return 0
    pools = {pool for c in captures for pool in c[0]}
    candidates = list(
        Opportunity.objects.filter(
            chain_id=chain_id,
            pool__address__in=list(pools),
            block_number__gte=captures[0][1] - window,
            block_number__lt=captures[-1][1],
            captured=False,
        ).values_list("pk", "pool__address", "block_number")
    )
    linked = 0
    taken: set[int] = set()
    for tx_pools, block, sender, tx_hash in captures:
        wanted = [
            pk
            for pk, pool, opp_block in candidates
            if pk not in taken and pool in tx_pools and block - window <= opp_block < block
        ]
        if wanted:
            taken.update(wanted)
            linked += Opportunity.objects.filter(pk__in=wanted, captured=False).update(
                captured=True, captured_by=sender, capture_tx_hash=tx_hash, captured_at=timezone.now()
            )
    return linked


def opportunity_capture_release(*, chain_id: int, tx_hashes: Iterable[str]) -> int:
    """Undo the captures made by transactions a reorg removed."""
    hashes = list(tx_hashes)
    if not hashes:
        return 0
    return Opportunity.objects.filter(chain_id=chain_id, capture_tx_hash__in=hashes).update(
        captured=False, captured_by=None, capture_tx_hash=None, captured_at=None
    )


def opportunity_capture_link_new(
    *, chain_id: int, opportunities: Sequence[Opportunity], window: int | None = None
) -> int:
    """Link opportunities just stored to arbitrage transactions already stored after them (the pool scanner
    lagged). One query for the transactions of the blocks after them; none stored there (the usual case)
    costs nothing more."""
    window = capture_window() if window is None else window
    if window <= 0 or not opportunities:
        return 0
    blocks = [o.block_number for o in opportunities]
    txs = _transactions_after(chain_id=chain_id, from_block=min(blocks), to_block=max(blocks) + window)
    return _link_first_capture(
        sorted(opportunities, key=lambda o: (o.block_number, o.pk)), txs, window, lambda o: o.pool_address
    )


def _transactions_after(*, chain_id: int, from_block: int, to_block: int) -> Sequence[Mapping[str, Any]]:
    """Stored arbitrage transactions of blocks ``from_block`` + 1 … ``to_block``, in block order."""
    # Read through the app registry: the transactions app is a peer, not a dependency (its model's fields only).
    arbitrage_transaction = apps.get_model("transactions", "ArbitrageTransaction")
    return list(
        arbitrage_transaction.objects.filter(chain_id=chain_id, block_number__gt=from_block, block_number__lte=to_block)
        .order_by("block_number", "id")
        .values("block_number", "tx_hash", "from_address", "pools_involved")
    )


def _link_first_capture(
    opportunities: Sequence[Opportunity], txs: Sequence[Mapping[str, Any]], window: int, address: Any
) -> int:
    """Each open opportunity captured by the first of ``txs`` through its pool within the window after it."""
    linked = 0
    for opportunity in opportunities:
        pool = address(opportunity)
        for tx in txs:
            if opportunity.block_number < tx["block_number"] <= opportunity.block_number + window and (
                pool in tx["pools_involved"]
            ):
                linked += Opportunity.objects.filter(pk=opportunity.pk, captured=False).update(
                    captured=True,
                    captured_by=tx["from_address"],
                    capture_tx_hash=tx["tx_hash"],
                    captured_at=timezone.now(),
                )
                break
    return linked


@transaction.atomic
def opportunity_capture_sweep(*, chain_id: int, from_block: int, to_block: int, window: int | None = None) -> int:
    """Link open opportunities of blocks ``from_block``…``to_block`` to stored arbitrages that followed them.

    Bounded: reads the opportunities of the range and the arbitrage
    transactions of the range plus the window, through the (chain, block)
    indexes; pools are matched in Python (portable across SQLite and PostgreSQL).
    """
    window = capture_window() if window is None else window
    if window <= 0 or to_block < from_block:
        return 0
    open_opportunities = list(
        Opportunity.objects.filter(
            chain_id=chain_id, block_number__gte=from_block, block_number__lte=to_block, captured=False
        )
        .select_related("pool")
        .order_by("block_number", "id")
    )
    if not open_opportunities:
        return 0
    txs = _transactions_after(chain_id=chain_id, from_block=from_block, to_block=to_block + window)
    return _link_first_capture(open_opportunities, txs, window, lambda o: o.pool.address)


# --- receivers of the shared write path's signals (connected in OpportunitiesConfig.ready) -------------------


def on_detections_written(*, kind: str, chain_id: int, rows: Sequence[Any], **_: Any) -> None:
    """Link captures whichever scanner commits first, in the write transaction of the later one.

    New arbitrage transactions capture the open opportunities before them; new
    opportunities are captured by the arbitrage transactions already stored after them.
    """
    if not rows:
        return
    if kind == "transactions":
        opportunity_capture_link_many(
            chain_id=chain_id,
            captures=[(tx.pools_involved, tx.block_number, tx.from_address, tx.tx_hash) for tx in rows],
        )
    elif kind == "opportunities":
        opportunity_capture_link_new(chain_id=chain_id, opportunities=rows)


def on_detections_removed(*, kind: str, chain_id: int, rows: Sequence[Any], **_: Any) -> None:
    """Arbitrage transactions orphaned by a reorg give back the opportunities they captured."""
    if kind == "transactions" and rows:
        opportunity_capture_release(chain_id=chain_id, tx_hashes=[tx.tx_hash for tx in rows])
