"""Drop a client's TCP connection at once, under uvicorn or daphne.

ASGI has no "abort": a ``websocket.close`` is one more message queued behind the
send that is stuck, and both servers' ``close`` waits for the write buffer to
drain, which a client that stopped reading never lets happen. A connection in that
state would hold its socket (and, before, its slot) for ever. ``abort(send)``
finds the server's transport behind the ASGI ``send`` callable and aborts it (the
kernel sends an RST); the server then reports ``websocket.disconnect`` as for any
lost connection. Anything else (the test communicator) is left alone.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)


def _transport_of(send: Any) -> Any:
    send = getattr(send, "__wrapped__", send)  # streaming.gate's wrapper
    # uvicorn: ``send`` is a bound method of the connection's asyncio.Protocol.
    owner = getattr(send, "__self__", None)
    if owner is not None and hasattr(getattr(owner, "transport", None), "abort"):
        return owner.transport
    # daphne: ``functools.partial(server.handle_reply, protocol)``; a Twisted transport.
    if isinstance(send, functools.partial) and send.args:
        transport = getattr(send.args[0], "transport", None)
        if hasattr(transport, "abortConnection"):
            return transport
    return None


def abort(send: Any) -> bool:
    """Reset the connection behind ``send``; False if this server's transport is not known."""
    transport = _transport_of(send)
    if transport is None:
        return False
    try:
        if hasattr(transport, "abortConnection"):
            from twisted.internet import reactor

            reactor.callFromThread(transport.abortConnection)  # type: ignore[attr-defined]
        else:
            transport.abort()
    except Exception as exc:  # already gone
        logger.info("aborting a connection failed: %s", exc)
        return False
    return True
