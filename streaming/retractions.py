"""Telling clients that a reorg removed rows they were sent: the ``retracted`` notice.

The reorg path (``scanning.detections.detections_remove``) sends ``chains.signals.detections_removed``
inside the rollback's transaction, before the rows are deleted. The receiver here notes the rows'
ids and, once that transaction commits (never for a rollback that is itself rolled back), publishes
one event per (channel, chain) to the same channel-layer group as the notifications, through the
same publisher: so it reaches every web process in order with them (after the notifications of the
removed rows, before those of the new branch's rows). The publisher numbers it in the group's
sequence like a notification (``seq``/``epoch``, ``streaming.history``) and keeps it in the group's
history, so a client that resumes with ``since``/``replay`` gets it again in its place.

Each web process hands the notice, encoded once, to every local connection with a subscription to
that channel that can match the chain (its ``chain_id`` filter absent or equal). Profit and swap
filters are not applied (live or on replay): the notice lists every removed id and a client
ignores those it was not sent. Old clients ignore a message type they do not know (docs/protocol.md).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from django.db import transaction

from arbmonitor.timeutil import utc_now_isoformat
from streaming.events import group_name
from streaming.protocol import CHANNELS, retracted_text

logger = logging.getLogger(__name__)

RETRACTION_EVENT_TYPE: Final = "stream.retraction"


def retraction_event(channel: str, *, chain_id: int, from_block: int, ids: list[int], timestamp: str) -> dict[str, Any]:
    """The channel-layer message of one notice, its text encoded once for every client."""
    return {
        "type": RETRACTION_EVENT_TYPE,
        "channel": channel,
        "chain_id": int(chain_id),
        "text": retracted_text(channel, int(chain_id), int(from_block), sorted(ids), timestamp),
    }


def retraction_recipients(connections: Any, event: dict[str, Any]) -> list[Any]:
    """The connections (of one channel's subscribers) that can have been sent rows of the event's chain."""
    channel, chain_id = event["channel"], event["chain_id"]
    return [
        connection
        for connection in connections
        if any(f.chain_id is None or f.chain_id == chain_id for f in connection.subscriptions[channel])
    ]


def detections_removed_retract(
    sender: Any, *, kind: str, chain_id: int, rows: list[Any], from_block: int | None = None, **_: Any
) -> None:
    """Receiver of ``detections_removed``: publish a ``retracted`` notice once the rollback commits."""
    if kind not in CHANNELS or not rows:
        return
    ids = [int(row.pk) for row in rows]
    first = int(from_block) if from_block is not None else min(int(row.block_number) for row in rows)
    transaction.on_commit(lambda: retraction_publish(kind, chain_id=chain_id, from_block=first, ids=ids))


def retraction_publish(channel: str, *, chain_id: int, from_block: int, ids: list[int]) -> None:
    """Hand one notice to this process's publisher. Never raises (the rollback is committed either way)."""
    from streaming.broadcast import publish_event

    try:
        event = retraction_event(
            channel, chain_id=chain_id, from_block=from_block, ids=ids, timestamp=utc_now_isoformat()
        )
        publish_event(group_name(channel, chain_id), event)
    except Exception:
        logger.exception("publishing the retraction of %d %s row(s) failed", len(ids), channel)
