"""The scan kinds the apps register, so this layer triggers and dispatches them without importing the apps.

Each app that scans registers a ``ScanKind`` in its ``AppConfig.ready()``: the
cursor kind, the Celery task the head watcher enqueues (by name), and how the
``backfill`` command builds its processor. ``scanning`` only ever looks kinds
up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chains.config import ChainConfig
    from evm.rpc import ChainClient
    from scanning.loop import BlockProcessor


@dataclass(frozen=True)
class ScanKind:
    kind: str  # the cursor kind: "pools" | "transactions"
    task_name: str  # the Celery task that runs one live scan of a chain: task(chain_id)
    backfill_name: str  # the backfill command's --kind
    backfill_processor: Callable[[ChainConfig, ChainClient, dict[str, Any]], BlockProcessor]
    backfill_order: int = 0  # lower first within a batch (opportunities before the transactions that capture them)


_KINDS: dict[str, ScanKind] = {}


def scan_kind_register(kind: ScanKind) -> None:
    _KINDS[kind.kind] = kind


def scan_kinds() -> list[ScanKind]:
    """Every registered kind, in backfill order."""
    return sorted(_KINDS.values(), key=lambda k: (k.backfill_order, k.kind))


def scan_kind(kind: str) -> ScanKind:
    try:
        return _KINDS[kind]
    except KeyError:
        raise LookupError(f"no app registered the scan kind {kind!r} (INSTALLED_APPS?)") from None
