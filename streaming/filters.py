"""Subscription filters and the spec's "Filter Matching Logic", as plain values.

Opportunities match on ``chain_id`` and ``profit_usd``; transactions on
``chain_id``, ``profit_net_usd`` and ``swap_count``. A connection may hold several
filters for one channel; a notification goes out once when ANY of them matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SubscriptionFilter:
    """One subscription's filters; ``None`` means "not specified" (matches everything)."""

    chain_id: int | None = None
    min_profit: float | None = None
    max_profit: float | None = None
    min_swaps: int | None = None

    def matches(self, chain_id: int, profit: float, swap_count: int | None) -> bool:
        if self.chain_id is not None and self.chain_id != chain_id:
            return False
        if self.min_profit is not None and not profit >= self.min_profit:
            return False
        if self.max_profit is not None and not profit <= self.max_profit:
            return False
        return self.min_swaps is None or (swap_count is not None and swap_count >= self.min_swaps)

    def as_json(self) -> dict[str, Any]:
        """The filters as accepted (only those given), for the ``subscribed`` echo."""
        accepted: dict[str, Any] = {}
        for key in ("chain_id", "min_profit", "max_profit", "min_swaps"):
            value = getattr(self, key)
            if value is not None:
                accepted[key] = value
        return accepted


def any_matches(filters: Iterable[SubscriptionFilter], chain_id: int, profit: float, swap_count: int | None) -> bool:
    return any(f.matches(chain_id, profit, swap_count) for f in filters)
