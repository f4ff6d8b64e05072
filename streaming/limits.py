"""Per-connection limits as plain values: the message rate limiter."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class RateVerdict(enum.Enum):
    ALLOW = "allow"
    REJECT = "reject"  # drop the message and tell the client
    REJECT_QUIETLY = "reject_quietly"  # drop it; the client was already told
    CLOSE = "close"  # the flood went on: close the connection (1008)


@dataclass(slots=True)
class RateLimiter:
    """A token bucket: ``rate`` messages a second, bursts up to ``burst``.

    The first message over the limit is answered with an error; if the client keeps
    sending while over the limit, after ``patience`` more rejected messages the
    verdict is CLOSE. An allowed message forgives the earlier rejections.
    """

    rate: float
    burst: float
    patience: int
    tokens: float = field(init=False)
    last: float | None = field(default=None, init=False)
    rejected: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def check(self, now: float) -> RateVerdict:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.rejected = 0
            return RateVerdict.ALLOW
        self.rejected += 1
        if self.rejected == 1:
            return RateVerdict.REJECT
        if self.rejected > self.patience:
            return RateVerdict.CLOSE
        return RateVerdict.REJECT_QUIETLY
