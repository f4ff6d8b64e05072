"""Timestamps as the protocol sends them: UTC, microseconds, with the offset said."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_isoformat(moment: datetime) -> str:
    """``2025-11-16T16:54:43.123456Z``: the spec's shape plus the ``Z`` (docs/protocol.md).

    A naive datetime is taken to be UTC already.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now_isoformat() -> str:
    return utc_isoformat(datetime.now(UTC))
