"""Hooks for what the scanners store, so features above the write path need not be imported by it.

Receivers (aggregates, alerts, ...) connect to these; the write path only sends them. ``kind`` is
``"opportunities"`` or ``"transactions"``.

- ``detections_written``: inside the write transaction, with the rows created now (never rows that
  already existed). A receiver that writes joins the same transaction: exactly once with the rows.
- ``detections_committed``: after that transaction committed, with the same rows (re-read as
  stored). A receiver must not raise; use it to queue work (alerts), never to write aggregates.
- ``detections_removed``: inside the reorg rollback's transaction, before the rows are deleted,
  with the rows about to go and ``from_block``, the first orphaned block.
"""

from __future__ import annotations

from django.dispatch import Signal

detections_written = Signal()  # kwargs: kind, chain_id, rows
detections_committed = Signal()  # kwargs: kind, chain_id, rows
detections_removed = Signal()  # kwargs: kind, chain_id, rows, from_block
