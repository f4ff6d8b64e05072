"""Ordered delivery to one WebSocket connection that never makes the caller wait.

The fan-out hands the same pre-encoded message to hundreds of connections in turn.
An ``await send(...)`` per connection is the cheapest way to do that (measured: a
task or ``gather`` per send costs about twice as much), but on uvicorn ``send``
waits while that client's socket buffer is full, and one slow client would then
stall every other client of the process.

So :meth:`Outbox.deliver` starts the server's ``send`` coroutine by hand: when it
completes without waiting (the common case) that was the whole cost; when it has
to wait, the rest of that send, and every later message for the connection, go to
a per-connection task and a bounded backlog. A connection whose backlog overflows
is lagging: its backlog is dropped, it is told so with an ``error`` and closed with
:data:`CLOSE_LAGGING`; nothing is ever dropped silently.

A send that makes no progress for ``send_timeout`` seconds (the client stopped
reading, or its host is gone) ends the connection: the backlog is dropped and the
transport aborted, because the error and close frame would only queue behind the
stuck bytes. ``on_gone`` runs once in every such case, so the caller gives the
connection's slot back at once. The watchdog is armed only while a send waits; a
send that completes at once costs nothing extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Final

from arbmonitor import metrics

logger = logging.getLogger(__name__)

Message = dict[str, Any]
# A coroutine function, not any awaitable: ``deliver`` starts the coroutine by hand
# (``send(None)``) so a send that completes at once never spawns a task.
Send = Callable[[Message], Coroutine[Any, Any, None]]

# 1013 "Try Again Later": the client did not read its notifications fast enough.
CLOSE_LAGGING: Final = 1013


class _ResumeSuspended:
    """Await a coroutine that was already started by hand and is suspended on ``pending``."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, None, Any]:
        pending = self._pending
        while True:
            try:
                yield pending
            except BaseException as exc:  # cancellation and the like go to the coroutine
                try:
                    pending = self._coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                pending = self._coro.send(None)
            except StopIteration as stop:
                return stop.value


class Outbox:
    """The one way messages reach a connection: in order, without blocking the caller."""

    __slots__ = (
        "_abort",
        "_backlog",
        "_gone",
        "_label",
        "_limit",
        "_on_gone",
        "_progress",
        "_send",
        "_send_timeout",
        "_task",
        "_watchdog",
        "closed",
        "lagging",
    )

    def __init__(
        self,
        send: Send,
        *,
        limit: int,
        label: str,
        on_gone: Callable[[], None] | None = None,
        send_timeout: float | None = None,
        abort: Callable[[], object] | None = None,
    ) -> None:
        self._send = send
        self._limit = limit
        self._label = label
        self._on_gone = on_gone
        self._send_timeout = send_timeout
        self._abort = abort
        self._backlog: deque[Message] = deque()
        self._task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._progress = 0.0  # loop time of the last send that completed while draining
        self._gone = False
        self.closed = False  # a close was queued, or a send failed: nothing more goes out
        self.lagging = False

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    def deliver(self, message: Message) -> bool:
        """Send ``message`` now or queue it; False if the connection takes no more messages."""
        if self.closed:
            return False
        if self._task is not None:
            if len(self._backlog) >= self._limit:
                self._overflow()
                return False
            self._backlog.append(message)
            return True
        coro = self._send(message)
        try:
            pending = coro.send(None)
        except StopIteration:
            return True
        except Exception as exc:
            self._failed(exc)
            return False
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._drain(coro, pending))
        if self._send_timeout is not None:
            self._progress = loop.time()
            self._watchdog = loop.call_later(self._send_timeout, self._check_progress)
        return True

    def close(self, code: int, reason: str = "") -> None:
        """Queue a close after everything already queued; later messages are refused."""
        if self.closed:
            return
        self.deliver({"type": "websocket.close", "code": code, "reason": reason})
        self.closed = True

    def cancel(self) -> None:
        """The connection is gone: stop any send in progress and drop the backlog."""
        self.closed = True
        self._gone = True
        self._backlog.clear()
        self._stop_watchdog()
        if self._task is not None:
            self._task.cancel()

    def _went(self) -> None:
        if not self._gone:
            self._gone = True
            if self._on_gone is not None:
                self._on_gone()

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _check_progress(self) -> None:
        self._watchdog = None
        if self._task is None or self._send_timeout is None:
            return
        loop = asyncio.get_running_loop()
        idle = loop.time() - self._progress
        if idle < self._send_timeout:
            self._watchdog = loop.call_later(self._send_timeout - idle, self._check_progress)
            return
        logger.warning(
            "%s: a send made no progress for %.0f s (client not reading or gone); dropping the connection",
            self._label,
            idle,
        )
        self.lagging = True
        self.closed = True
        self._backlog.clear()
        self._task.cancel()
        self._went()
        if self._abort is not None:
            self._abort()

    def _overflow(self) -> None:
        from streaming.protocol import error_text

        dropped = len(self._backlog)
        logger.warning("%s: %d notifications queued, client not reading; closing it", self._label, dropped)
        self.lagging = True
        metrics.ws_lagging_closed()
        self._backlog.clear()
        self._backlog.append(
            {
                "type": "websocket.send",
                "text": error_text(
                    f"Too slow: more than {self._limit} messages were waiting for this connection; "
                    f"{dropped} were dropped and the connection is closed (code {CLOSE_LAGGING}). Reconnect."
                ),
            }
        )
        self._backlog.append({"type": "websocket.close", "code": CLOSE_LAGGING, "reason": "Client too slow"})
        self.closed = True
        self._went()

    def _failed(self, exc: BaseException) -> None:
        logger.info("%s: send failed (%s: %s); dropping the connection", self._label, type(exc).__name__, exc)
        self.closed = True
        self._backlog.clear()
        self._went()
        if self._abort is not None:
            self._abort()

    async def _drain(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            await _ResumeSuspended(coro, pending)
            while self._backlog:
                self._progress = loop.time()
                await self._send(self._backlog.popleft())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
        finally:
            self._task = None
            self._stop_watchdog()
