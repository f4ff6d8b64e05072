"""The aggregates' hooks on the write path (``chains.signals``), connected in ``ApiConfig.ready``."""

from __future__ import annotations

from typing import Any

from api.aggregates import aggregates_on_removed, aggregates_on_written
from api.links import links_on_removed, links_on_written
from chains.signals import detections_removed, detections_written


def _written(sender: object, *, kind: str, chain_id: int, rows: Any, **kwargs: Any) -> None:
    rows = list(rows)
    aggregates_on_written(kind=kind, chain_id=chain_id, rows=rows)
    links_on_written(kind=kind, rows=rows)


def _removed(sender: object, *, kind: str, chain_id: int, rows: Any, **kwargs: Any) -> None:
    rows = list(rows)
    aggregates_on_removed(kind=kind, chain_id=chain_id, rows=rows)
    links_on_removed(kind=kind, rows=rows)


detections_written.connect(_written, dispatch_uid="api.aggregates.written")
detections_removed.connect(_removed, dispatch_uid="api.aggregates.removed")
