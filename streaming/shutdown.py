"""Graceful shutdown of the stream: SIGTERM / SIGINT of the web process closes each client with 1001 first.

uvicorn and daphne (Twisted) both install their own ``signal.signal`` handlers for
SIGTERM and SIGINT and, on the first signal, close WebSocket connections their own
way (uvicorn: close 1012 with whatever was queued for slow clients dropped; daphne:
the application is cancelled, the client sees the TCP connection end). The hub wraps
those handlers when it starts: the first signal drains the stream (``StreamHub.drain``:
each client gets what was already queued for it, a notice, then close 1001) and only
then passes the signal on to the server, which stops as it always does. A second
signal goes to the server at once (a forced stop stays possible).

Only uvicorn's and Twisted's own handlers are wrapped (found by the module that defines
them), and only on the main thread: elsewhere (the test suite's in-process consumers, a
management command's handlers) nothing changes.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)

Drain = Callable[[], Awaitable[None]]


class _Handler:
    """Wraps the server's handler of one signal: drain first, then hand the signal on."""

    def __init__(self, sig: int, previous: Callable[[int, FrameType | None], Any], state: _State) -> None:
        self.sig = sig
        self.previous = previous
        self.state = state

    def __call__(self, sig: int, frame: FrameType | None) -> None:
        state = self.state
        if state.started:  # a second signal: the server's own (forced) stop, now
            self.previous(sig, frame)
            return
        state.started = True
        # A signal handler runs between two bytecodes of the loop's thread: only schedule here.
        state.loop.call_soon_threadsafe(self._drain_then_pass_on)

    def _drain_then_pass_on(self) -> None:
        task = self.state.loop.create_task(self._run(), name="streaming-shutdown")
        self.state.task = task

    async def _run(self) -> None:
        try:
            await self.state.drain()
        except Exception:
            logger.exception("draining the stream before shutdown failed; stopping anyway")
        finally:
            self.previous(self.sig, None)


class _State:
    def __init__(self, loop: asyncio.AbstractEventLoop, drain: Drain) -> None:
        self.loop = loop
        self.drain = drain
        self.started = False
        self.task: asyncio.Task[None] | None = None


SERVERS = ("uvicorn", "twisted", "daphne")


def _is_server_handler(handler: Any) -> bool:
    """A handler that uvicorn's ``Server`` or Twisted's reactor (daphne) installed, by the module that defines it."""
    owner = getattr(handler, "__self__", None)  # a bound method: uvicorn's Server.handle_exit, Twisted's sigTerm
    module = type(owner).__module__ if owner is not None else getattr(handler, "__module__", None) or ""
    return module.split(".", 1)[0] in SERVERS


def install(drain: Drain) -> bool:
    """Wrap the running server's SIGTERM/SIGINT handlers with ``drain``; False if there is none to wrap."""
    if threading.current_thread() is not threading.main_thread():
        return False
    state = _State(asyncio.get_running_loop(), drain)
    installed = False
    for sig in SIGNALS:
        previous = signal.getsignal(sig)
        if not callable(previous) or not _is_server_handler(previous):
            continue
        signal.signal(sig, _Handler(sig, previous, state))
        installed = True
    if installed:
        logger.info("stream: SIGTERM/SIGINT close WebSocket clients with 1001 before the server stops")
    return installed
