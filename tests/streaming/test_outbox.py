"""The outbox: in order, never waits on a slow client, bounded, and never drops silently."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from streaming.outbox import CLOSE_LAGGING, Outbox


class FakeClient:
    """An ASGI send that stalls (socket buffer full) while ``writable`` is clear."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.writable = asyncio.Event()
        self.writable.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        self.sent.append(message)


def text(n: int) -> dict[str, Any]:
    return {"type": "websocket.send", "text": str(n)}


async def test_a_stalled_client_does_not_delay_the_others_and_keeps_its_order() -> None:
    slow, fast = FakeClient(), FakeClient()
    slow_box, fast_box = Outbox(slow.send, limit=100, label="slow"), Outbox(fast.send, limit=100, label="fast")
    slow.writable.clear()
    for n in range(10):
        assert slow_box.deliver(text(n))
        assert fast_box.deliver(text(n))
    assert [m["text"] for m in fast.sent] == [str(n) for n in range(10)]  # delivered synchronously
    assert slow.sent == [] and slow_box.backlog == 9
    slow.writable.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert [m["text"] for m in slow.sent] == [str(n) for n in range(10)]
    assert slow_box.backlog == 0


async def test_overflow_tells_the_client_then_closes_it() -> None:
    client = FakeClient()
    gone: list[bool] = []
    box = Outbox(client.send, limit=3, label="lagging", on_gone=lambda: gone.append(True))
    client.writable.clear()
    results = [box.deliver(text(n)) for n in range(6)]
    assert results == [True, True, True, True, False, False]
    assert box.lagging and box.closed and gone == [True]
    client.writable.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert client.sent[0]["text"] == "0"  # the send in progress completes
    error, close = client.sent[1], client.sent[2]
    assert json.loads(error["text"])["type"] == "error"
    assert "Too slow" in json.loads(error["text"])["message"]
    assert close == {"type": "websocket.close", "code": CLOSE_LAGGING, "reason": "Client too slow"}
    assert len(client.sent) == 3


async def test_a_failing_send_drops_the_connection_and_is_not_raised() -> None:
    gone: list[bool] = []

    async def broken(message: dict[str, Any]) -> None:
        raise ConnectionResetError("peer gone")

    box = Outbox(broken, limit=10, label="dead", on_gone=lambda: gone.append(True))
    assert not box.deliver(text(1))
    assert box.closed and gone == [True]
    assert not box.deliver(text(2))


async def test_close_goes_out_after_what_is_queued_and_nothing_after_it() -> None:
    client = FakeClient()
    box = Outbox(client.send, limit=10, label="c")
    box.deliver(text(1))
    box.close(1008, "bye")
    assert not box.deliver(text(2))
    assert client.sent == [text(1), {"type": "websocket.close", "code": 1008, "reason": "bye"}]


async def test_cancel_stops_a_stalled_send() -> None:
    client = FakeClient()
    client.writable.clear()
    box = Outbox(client.send, limit=10, label="c")
    box.deliver(text(1))
    box.deliver(text(2))
    box.cancel()
    await asyncio.sleep(0)
    client.writable.set()
    await asyncio.sleep(0)
    assert client.sent == []


async def _until(condition: Any, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def test_a_send_stuck_past_the_send_timeout_ends_the_connection_and_aborts_it() -> None:
    client = FakeClient()
    client.writable.clear()  # the client stopped reading: the socket never drains
    gone: list[bool] = []
    aborted: list[bool] = []
    box = Outbox(
        client.send,
        limit=1000,
        label="stuck",
        on_gone=lambda: gone.append(True),
        send_timeout=0.2,
        abort=lambda: aborted.append(True),
    )
    assert box.deliver(text(1)) and box.deliver(text(2))
    await _until(lambda: bool(aborted))
    assert gone == [True] and box.closed and box.backlog == 0
    assert not box.deliver(text(3))
    client.writable.set()
    await asyncio.sleep(0.05)
    assert client.sent == []  # the stuck send was cancelled, nothing went out after it


async def test_a_slow_client_that_keeps_reading_is_not_cut_off_by_the_send_timeout() -> None:
    client = FakeClient()
    aborted: list[bool] = []
    box = Outbox(client.send, limit=1000, label="slow", send_timeout=0.3, abort=lambda: aborted.append(True))
    client.writable.clear()
    for n in range(10):
        box.deliver(text(n))

    async def read_slowly() -> None:  # each send completes well within the timeout
        for _ in range(10):
            client.writable.set()
            await asyncio.sleep(0)
            client.writable.clear()
            await asyncio.sleep(0.1)
        client.writable.set()

    await read_slowly()  # 1 s in all: over three send timeouts
    await _until(lambda: len(client.sent) == 10)
    assert aborted == [] and not box.closed


async def test_overflow_gives_the_slot_back_at_once_and_aborts_if_the_close_cannot_go_out() -> None:
    client = FakeClient()
    client.writable.clear()
    gone: list[bool] = []
    aborted: list[bool] = []
    box = Outbox(
        client.send,
        limit=3,
        label="lagging",
        on_gone=lambda: gone.append(True),
        send_timeout=0.2,
        abort=lambda: aborted.append(True),
    )
    for n in range(5):
        box.deliver(text(n))
    assert gone == [True] and aborted == []  # slot back now; the error and 1013 wait their turn
    await _until(lambda: bool(aborted))  # they never got through: the transport is reset
    assert gone == [True]
