"""One Redis call for a burst of requests: what many connections ask at once is sent together.

A thousand clients reconnecting after a network blip each need a lease (``streaming.leases``)
and, when they resume, a read of their group's history (``streaming.history``). One Redis
round trip each means a thousand commands queued on a small connection pool; with Redis
slow (a loaded machine, a busy server) they wait past the pool's timeout, the clients are
refused, they retry, and the queue never drains. A :class:`Coalescer` gives each request a
future and runs one batch call for every request made while the previous batch was on its
way (the first request of a quiet period goes at once, on the next turn of the loop), so a
burst costs a few calls, not one per connection.

Cancellation: a request cancelled before its batch is sent is left out of it; one cancelled
while its batch is in flight gets its result handed to ``abandoned`` (e.g. a lease granted to
a caller that went away is given back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int = 1000,
        abandoned: Callable[[Item, Result], None] | None = None,
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._abandoned = abandoned
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._sender: asyncio.Future[None] | None = None
        self.batches = 0  # calls made (for tests and stats)

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._sender is None:
            self._sender = asyncio.ensure_future(self._send_pending())
        return await future

    async def _send_pending(self) -> None:
        try:
            while self._pending:
                # Requests cancelled while they waited are not sent.
                live = [(item, future) for item, future in self._pending if not future.cancelled()]
                batch, rest = live[: self._max_batch], live[self._max_batch :]
                self._pending = rest
                if batch:
                    await self._send(batch)
        finally:
            self._sender = None
            for _item, future in self._pending:  # only when the sender itself was cancelled (the loop stopping)
                future.cancel()
            self._pending = []

    async def _send(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        self.batches += 1
        try:
            results = await self._run([item for item, _future in batch])
        except asyncio.CancelledError:
            for _item, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _item, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if len(results) != len(batch):  # a programming error in ``run``: every caller hears of it
            error = RuntimeError(f"batch call returned {len(results)} results for {len(batch)} requests")
            for _item, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (item, future), result in zip(batch, results, strict=True):
            if future.cancelled():
                if self._abandoned is not None:
                    self._abandoned(item, result)
            else:
                future.set_result(result)
