"""Sequence numbers, epochs and the bounded history that lets a client resume.

Every notification is numbered when it is published, in Redis, per group
(``opportunities.56``, ``transactions.137``, ...): one Lua script increments the
group's counter, appends ``"seq"`` and ``"epoch"`` to the pre-encoded text and adds
that text to the group's Redis Stream (capped at ``WS_HISTORY_SIZE`` entries), all
atomically. So numbers are gap-free per group whatever the number of publishers,
and the history holds exactly the texts the live stream carries.

The epoch names one history: a random id stored in the same hash as the counter.
When the counter is lost (Redis restarted empty, the key deleted) the next publish
starts again at 1 under a new epoch and clears the old stream, so a client holding
``{seq, epoch}`` from before can tell that its position means nothing any more.

Stream entry ids are ``<seq>-1``, so reading "after seq N" is an ``XRANGE`` from
``N+1``. Each entry also keeps the fields filters match on (``p`` profit, ``s``
swap count), so replay never parses the text. A reorg's ``retracted`` notice
(``streaming.retractions``) is numbered and kept in the same stream, in order with
the notifications; its entry has ``k`` = ``retracted`` instead of ``p``/``s`` (no
profit or swap filter applies to it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from django.conf import settings

# KEYS: counter hash, stream. ARGV: text (a JSON object), new epoch candidate, max length, profit, swaps,
# kind ("" for a notification, "retracted" for a reorg's notice: then profit and swaps are "").
_APPEND: Final = """
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if seq == 1 or not epoch then
  epoch = ARGV[2]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call('DEL', KEYS[2])
end
local text = string.sub(ARGV[1], 1, -2) .. ', "seq": ' .. string.format('%d', seq) .. ', "epoch": "' .. epoch .. '"}'
local id = string.format('%d', seq) .. '-1'
if ARGV[6] == '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], id, 't', text, 'p', ARGV[4], 's', ARGV[5])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], id, 't', text, 'k', ARGV[6])
end
return {seq, epoch, text}
"""


def counter_key(group: str) -> str:
    return f"{settings.WS_HISTORY_KEY}:{group}:seq"


def stream_key(group: str) -> str:
    return f"{settings.WS_HISTORY_KEY}:{group}:stream"


def new_epoch() -> str:
    return uuid.uuid4().hex[:12]


RETRACTED: Final = "retracted"  # the entry kind of a reorg's notice


async def append(
    redis: Any, group: str, text: str, profit: float | None, swap_count: int | None, *, kind: str = ""
) -> tuple[int, str, str]:
    """Number ``text`` (a JSON object) in ``group`` and keep it: ``(seq, epoch, numbered text)``.

    ``kind`` is "" for a notification (``profit`` required) or :data:`RETRACTED` (no profit, no swaps).
    """
    if kind not in ("", RETRACTED):
        raise ValueError(f"unknown history entry kind {kind!r}")
    if not kind and profit is None:
        raise ValueError("a notification needs its profit")
    seq, epoch, numbered = await redis.eval(
        _APPEND,
        2,
        counter_key(group),
        stream_key(group),
        text,
        new_epoch(),
        settings.WS_HISTORY_SIZE,
        "" if kind else repr(float(profit)),  # type: ignore[arg-type]  # checked above
        "" if kind or swap_count is None else str(int(swap_count)),
        kind,
    )
    return int(seq), _str(epoch), _str(numbered)


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    text: str
    profit: float
    swap_count: int | None
    retracted: bool = False  # a reorg's ``retracted`` notice: replayed to every subscription of its chain


@dataclass(slots=True)
class Recovery:
    """The outcome of a ``since`` / ``replay`` request on one group."""

    recovered: bool
    seq: int  # the group's latest sequence number when the history was read (0: nothing published yet)
    epoch: str  # the group's epoch ("" when nothing was published yet)
    entries: list[Entry] = field(default_factory=list)


async def read_since(redis: Any, group: str, seq: int, epoch: str) -> Recovery:
    """Everything after ``seq`` of ``epoch``, if the history still holds all of it."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(counter_key(group), "seq", "epoch")
        pipe.xrange(stream_key(group), min=f"{seq + 1}-0", max="+")
        (current, current_epoch), raw = await pipe.execute()
    latest = int(current) if current is not None else 0
    latest_epoch = _str(current_epoch) if current_epoch is not None else ""
    entries = [_entry(entry_id, fields) for entry_id, fields in raw]
    return decide_since(seq, epoch, latest, latest_epoch, entries)


async def read_last(redis: Any, group: str, count: int) -> Recovery:
    """The last ``count`` notifications; recovered when the history held that many (or all since the epoch began)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(counter_key(group), "seq", "epoch")
        pipe.xrevrange(stream_key(group), max="+", min="-", count=count)
        (current, current_epoch), raw = await pipe.execute()
    latest = int(current) if current is not None else 0
    latest_epoch = _str(current_epoch) if current_epoch is not None else ""
    entries = [_entry(entry_id, fields) for entry_id, fields in reversed(raw)]
    complete = len(entries) == count or len(entries) == latest
    return Recovery(complete, latest, latest_epoch, entries)


def decide_since(seq: int, epoch: str, latest: int, latest_epoch: str, entries: list[Entry]) -> Recovery:
    """Pure: can a client at ``(seq, epoch)`` be brought up to date from ``entries``?"""
    if latest == 0:  # nothing published in any epoch: nothing was missed
        return Recovery(seq == 0, latest, latest_epoch)
    if epoch != latest_epoch or seq > latest:
        return Recovery(False, latest, latest_epoch)
    if seq == latest:
        return Recovery(True, latest, latest_epoch)
    if not entries or entries[0].seq != seq + 1:  # trimmed away
        return Recovery(False, latest, latest_epoch)
    return Recovery(True, latest, latest_epoch, entries)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(entry_id: Any, fields: dict[Any, Any]) -> Entry:
    seq = int(_str(entry_id).split("-", 1)[0])
    decoded = {_str(k): _str(v) for k, v in fields.items()}
    if decoded.get("k") == RETRACTED:
        return Entry(seq, decoded["t"], 0.0, None, retracted=True)
    swaps = decoded.get("s", "")
    return Entry(seq, decoded["t"], float(decoded["p"]), int(swaps) if swaps else None)
