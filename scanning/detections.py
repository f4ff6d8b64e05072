"""The one write path for what the scanners detect (opportunities and arbitrage transactions).

Both kinds are stored the same way, by ``detections_record``:

1. insert-ignore on the kind's natural key (rows whose key is stored already are
   left untouched, so a retried batch, a second worker or a backfill overlapping
   the live scanner writes nothing twice): one SELECT of the keys, one bulk
   INSERT, and one-by-one inserts only when a concurrent writer raced us;
2. the kind's ``after_insert`` (e.g. a transaction's cycles) with the rows created;
3. the rows are re-read as stored (SQLite keeps decimals as REAL: a notification
   must say exactly what a later read of the row says) and
   ``chains.signals.detections_written`` is sent inside the transaction;
4. after the transaction commits: each row is broadcast (when asked) and
   ``detections_committed`` is sent. A failed broadcast is logged, never raised:
   the row is stored either way (at-most-once delivery of the live notification,
   exactly-once storage).

``detections_remove`` is the reorg path: ``detections_removed`` then DELETE, in
the caller's transaction. The apps describe their kind with a ``DetectionKind``;
nothing here imports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Model

from chains.signals import detections_committed, detections_removed, detections_written

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionKind:
    """How one kind of detection is stored and announced."""

    name: str  # "opportunities" | "transactions": the signals' ``kind``
    model: type[Model]
    key: tuple[str, ...]  # natural key within a chain, e.g. ("pool_id", "block_number")
    serialize: Callable[[Any], dict[str, Any]]  # row -> the notification's data
    broadcast: Callable[[], Callable[[dict[str, Any]], None] | None]  # resolves the broadcaster (None: not streamed)

    def key_of(self, row: Model) -> tuple[Any, ...]:
        return tuple(getattr(row, field) for field in self.key)


def detections_record(
    kind: DetectionKind,
    *,
    chain_id: int,
    rows: Sequence[Model],
    broadcast: bool = True,
    after_insert: Callable[[list[Any]], None] | None = None,
) -> list[Any]:
    """Store the rows whose key is new (unsaved model instances of ``kind.model``); returns them as stored."""
    unique: dict[tuple[Any, ...], Model] = {}
    for row in rows:
        unique.setdefault(kind.key_of(row), row)
    if not unique:
        return []
    with transaction.atomic():
        existing = _existing_keys(kind, chain_id=chain_id, keys=list(unique))
        fresh = [row for key, row in unique.items() if key not in existing]
        if not fresh:
            return []
        created = _insert_ignore(kind, fresh)
        if not created:
            return []
        if after_insert is not None:
            after_insert(created)
        stored = list(kind.model._default_manager.filter(pk__in=[row.pk for row in created]).order_by("pk"))
        detections_written.send(sender=kind.model, kind=kind.name, chain_id=chain_id, rows=stored)
        payloads = [kind.serialize(row) for row in stored] if broadcast else []
        transaction.on_commit(lambda: _after_commit(kind, chain_id, stored, payloads))
    return stored


def _existing_keys(kind: DetectionKind, *, chain_id: int, keys: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """The keys among ``keys`` stored already (one query per key column's distinct values, chunked)."""
    found: set[tuple[Any, ...]] = set()
    manager = kind.model._default_manager
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        lookups = {f"{field}__in": {key[i] for key in part} for i, field in enumerate(kind.key)}
        found.update(tuple(k) for k in manager.filter(chain_id=chain_id, **lookups).values_list(*kind.key))
    return found


def _insert_ignore(kind: DetectionKind, fresh: list[Model]) -> list[Any]:
    """Bulk INSERT; when a concurrent writer stored one of them first, one by one, skipping what exists."""
    manager = kind.model._default_manager
    try:
        with transaction.atomic():
            created = manager.bulk_create(fresh)
    except IntegrityError:
        created = []
        for row in fresh:
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
            except IntegrityError:
                continue
            created.append(row)
        return created
    if any(row.pk is None for row in created) or not connection.features.can_return_rows_from_bulk_insert:
        keys = {kind.key_of(row): row for row in created}
        lookups = {f"{field}__in": {key[i] for key in keys} for i, field in enumerate(kind.key)}
        for pk, *key in manager.filter(**lookups).values_list("pk", *kind.key):
            found = keys.get(tuple(key))
            if found is not None:
                found.pk = pk
    return created


def _after_commit(kind: DetectionKind, chain_id: int, stored: list[Any], payloads: list[dict[str, Any]]) -> None:
    send = kind.broadcast() if payloads else None
    if send is not None:
        for payload in payloads:
            try:
                send(payload)
            except Exception:  # the broadcaster promises not to raise; a stored row must not be lost if it does
                logger.exception("broadcast of %s %s failed", kind.name, payload.get("id"))
    for _receiver, result in detections_committed.send_robust(
        sender=kind.model, kind=kind.name, chain_id=chain_id, rows=stored
    ):
        if isinstance(result, Exception):
            logger.error("detections_committed receiver failed: %r", result)


def detections_remove(kind: DetectionKind, *, chain_id: int, from_block: int) -> list[Any]:
    """A reorg orphaned ``from_block`` and later: send ``detections_removed`` with the rows, then delete them."""
    with transaction.atomic():
        orphaned = kind.model._default_manager.filter(chain_id=chain_id, block_number__gte=from_block)
        rows = list(orphaned)
        if rows:
            detections_removed.send(
                sender=kind.model, kind=kind.name, chain_id=chain_id, rows=rows, from_block=from_block
            )
            orphaned.delete()
    return rows
