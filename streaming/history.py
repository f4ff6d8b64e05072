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
from bisect import bisect_right
from collections import defaultdict
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


@dataclass(frozen=True, slots=True)
class Read:
    """One resume's question: after ``since`` (``(seq, epoch)``), or else the ``last`` N of ``group``
    (0: none, only the group's position)."""

    group: str
    since: tuple[int, str] | None = None
    last: int = 0


async def read_many(redis: Any, reads: list[Read]) -> list[Recovery]:
    """Answer many resumes in one Redis transaction (``streaming.coalesce`` gathers them).

    Per group: its counter once, one ``XRANGE`` from the lowest position asked for (every
    ``since`` read is a suffix of it) and one ``XREVRANGE`` of the largest ``last`` asked for.
    """
    by_group: defaultdict[str, list[Read]] = defaultdict(list)
    for read in reads:
        by_group[read.group].append(read)
    groups = list(by_group)
    async with redis.pipeline(transaction=True) as pipe:
        for group in groups:
            pipe.hmget(counter_key(group), "seq", "epoch")
            positions = [read.since[0] for read in by_group[group] if read.since is not None]
            if positions:
                pipe.xrange(stream_key(group), min=f"{min(positions) + 1}-0", max="+")
            lasts = [read.last for read in by_group[group] if read.since is None]
            if lasts and max(lasts) > 0:
                pipe.xrevrange(stream_key(group), max="+", min="-", count=max(lasts))
        replies = iter(await pipe.execute())
    answers: dict[tuple[str, tuple[int, str] | None, int], Recovery] = {}
    for group in groups:
        current, current_epoch = next(replies)
        latest = int(current) if current is not None else 0
        latest_epoch = _str(current_epoch) if current_epoch is not None else ""
        group_reads = by_group[group]
        if any(read.since is not None for read in group_reads):
            after = [_entry(entry_id, fields) for entry_id, fields in next(replies)]
            seqs = [entry.seq for entry in after]
            for read in group_reads:
                if read.since is not None:
                    seq, epoch = read.since
                    suffix = after[bisect_right(seqs, seq) :]
                    answers[(group, read.since, 0)] = decide_since(seq, epoch, latest, latest_epoch, suffix)
        if any(read.since is None for read in group_reads):
            wanted = max(read.last for read in group_reads if read.since is None)
            newest_first = [_entry(entry_id, fields) for entry_id, fields in next(replies)] if wanted else []
            for read in group_reads:
                if read.since is None:
                    entries = list(reversed(newest_first[: read.last]))
                    complete = len(entries) == read.last or len(entries) == latest
                    answers[(group, None, read.last)] = Recovery(complete, latest, latest_epoch, entries)
    # Recovery's entries list is shared by equal reads: callers only read it.
    return [answers[(read.group, read.since, read.last if read.since is None else 0)] for read in reads]


async def read_range(redis: Any, group: str, first: int, last: int) -> list[Entry]:
    """The entries numbered ``first`` to ``last`` that the history still holds, in order."""
    raw = await redis.xrange(stream_key(group), min=f"{first}-0", max=f"{last}-1")
    return [_entry(entry_id, fields) for entry_id, fields in raw]


async def positions(redis: Any, groups: list[str]) -> dict[str, tuple[int, str]]:
    """Each group's latest ``(seq, epoch)`` (groups where nothing was published are left out)."""
    async with redis.pipeline(transaction=False) as pipe:
        for group in groups:
            pipe.hmget(counter_key(group), "seq", "epoch")
        replies = await pipe.execute()
    return {
        group: (int(seq), _str(epoch))
        for group, (seq, epoch) in zip(groups, replies, strict=True)
        if seq is not None and epoch is not None
    }


def decide_since(seq: int, epoch: str, latest: int, latest_epoch: str, entries: list[Entry]) -> Recovery:
    """Pure: can a client at ``(seq, epoch)`` be brought up to date from ``entries``?"""
    if latest == 0:  # nothing published in any epoch: nothing was missed
        return Recovery(seq == 0, latest, latest_epoch)
    if seq == 0 and epoch == "":  # a position taken before anything was published: all of this epoch is new
        epoch = latest_epoch
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
