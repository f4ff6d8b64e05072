"""One client's state: its id, its subscriptions and its outbox."""

from __future__ import annotations

import uuid
from typing import Any

from streaming.filters import SubscriptionFilter
from streaming.outbox import Outbox
from streaming.protocol import CHANNELS, ProtocolError


class Seam:
    """Where a resumed group's replay ends and live notifications take over, for one connection.

    While the history is read, live notifications of the group wait in ``waiting``.
    Afterwards ``(epoch, seq)`` is the last position the replay covered: a live
    notification at or before it (its publish reached the history before the read,
    its live copy arrived after) is dropped, so none comes twice.
    """

    __slots__ = ("epoch", "seq", "waiting")

    def __init__(self) -> None:
        self.waiting: list[tuple[str, int, dict[str, Any]]] | None = []
        self.epoch = ""
        self.seq = 0

    def covers(self, epoch: str, seq: int) -> bool:
        return epoch == self.epoch and seq <= self.seq


def new_connection_id() -> str:
    """``ws_`` + 128 random bits: unique across every web process without coordination."""
    return f"ws_{uuid.uuid4().hex}"


class StreamConnection:
    """What the fan-out needs to know about a connection, and its subscription rules."""

    __slots__ = ("accepted", "api_key_id", "connection_id", "max_subscriptions", "outbox", "resumes", "subscriptions")

    def __init__(
        self, connection_id: str, outbox: Outbox, *, max_subscriptions: int, api_key_id: int | None = None
    ) -> None:
        self.connection_id = connection_id
        self.outbox = outbox
        self.max_subscriptions = max_subscriptions
        self.api_key_id = api_key_id  # the key it was let in with (None: anonymous); closed if the key is revoked
        self.subscriptions: dict[str, list[SubscriptionFilter]] = {channel: [] for channel in CHANNELS}
        # group -> its resume's seam (see StreamHub.recover); None (the usual case) if it never resumed.
        self.resumes: dict[str, Seam] | None = None
        self.accepted = False  # the handshake's accept was sent: messages may follow

    def __repr__(self) -> str:
        return f"<StreamConnection {self.connection_id}>"

    @property
    def subscription_count(self) -> int:
        return sum(len(filters) for filters in self.subscriptions.values())

    def subscribe(self, channel: str, filters: SubscriptionFilter) -> None:
        """Add a subscription; subscribing twice with the same filters is one subscription."""
        current = self.subscriptions[channel]
        if filters in current:
            return
        if self.subscription_count >= self.max_subscriptions:
            raise ProtocolError(
                f"Too many subscriptions: at most {self.max_subscriptions} per connection; unsubscribe first"
            )
        current.append(filters)

    def discard_subscription(self, channel: str, filters: SubscriptionFilter) -> None:
        """Take back one subscription (a resume that failed)."""
        if filters in self.subscriptions[channel]:
            self.subscriptions[channel].remove(filters)

    def unsubscribe(self, channel: str) -> None:
        """Drop every subscription to ``channel``."""
        if not self.subscriptions[channel]:
            raise ProtocolError(f"Not subscribed to channel: {channel}")
        self.subscriptions[channel] = []

    def wants(self, channel: str, chain_id: int, profit: float, swap_count: int | None) -> bool:
        # The hot loop of the fan-out: a plain loop is faster than any() over a generator.
        for f in self.subscriptions[channel]:  # noqa: SIM110
            if f.matches(chain_id, profit, swap_count):
                return True
        return False
