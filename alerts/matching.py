"""Which rules a stored row matches: plain values in, no Django, no I/O.

The chain/profit/swap filters are the WebSocket's own (``streaming.filters.SubscriptionFilter``);
pool, token and bot addresses are compared case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streaming.filters import SubscriptionFilter


@dataclass(frozen=True, slots=True)
class Detection:
    """A stored opportunity or transaction as the matcher sees it."""

    kind: str
    row_id: int
    chain_id: int
    profit: float
    swap_count: int | None
    pools: frozenset[str]
    tokens: frozenset[str]
    bot: str | None


@dataclass(frozen=True, slots=True)
class RuleFilter:
    rule_id: int
    channel: str
    filter: SubscriptionFilter
    pool: str = ""
    token: str = ""
    bot: str = ""

    def matches(self, detection: Detection) -> bool:
        if detection.kind != self.channel:
            return False
        if not self.filter.matches(detection.chain_id, detection.profit, detection.swap_count):
            return False
        if self.pool and self.pool not in detection.pools:
            return False
        if self.token and self.token not in detection.tokens:
            return False
        return not self.bot or self.bot == detection.bot


def _lower(values: Iterable[Any]) -> frozenset[str]:
    return frozenset(str(v).lower() for v in values if v)


def detection_from_opportunity(
    data: Mapping[str, Any], *, path_pools: Iterable[str], path_tokens: Iterable[str]
) -> Detection:
    return Detection(
        kind="opportunities",
        row_id=int(data["id"]),
        chain_id=int(data["chain_id"]),
        profit=float(data["profit_usd"]),
        swap_count=None,
        pools=_lower([data.get("pool_address"), *path_pools]),
        tokens=_lower(path_tokens),
        bot=(data.get("captured_by") or "").lower() or None,
    )


def detection_from_transaction(data: Mapping[str, Any]) -> Detection:
    return Detection(
        kind="transactions",
        row_id=int(data["id"]),
        chain_id=int(data["chain_id"]),
        profit=float(data["profit_net_usd"]),
        swap_count=int(data["swap_count"]),
        pools=_lower(data.get("pools_involved") or []),
        tokens=_lower(data.get("tokens_involved") or []),
        bot=(data.get("from_address") or "").lower() or None,
    )


def matches(rules: Iterable[RuleFilter], detections: Iterable[Detection]) -> list[tuple[int, Detection]]:
    """Every (rule id, detection) pair that matches, in detection order."""
    rules = list(rules)
    return [(rule.rule_id, d) for d in detections for rule in rules if rule.matches(d)]
