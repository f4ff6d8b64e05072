"""Let daphne send the protocol's close codes and reasons.

daphne closes through autobahn's public ``sendClose``, which only accepts 1000 and
3000-4999, and it drops the ASGI ``reason``: 1008 "Server at capacity", 1009 and
1013 would become a 1011 crash. ``install()`` wraps daphne's ``handle_reply`` so an
ASGI ``websocket.close`` with any code a server may send (RFC 6455 §7.4) goes out
as that close frame, with its reason. Everything else is daphne's own code path.
"""

from __future__ import annotations

from typing import Any

# Codes an endpoint may send in a close frame (1004-1006 and 1015 are reserved).
_SENDABLE = {1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)}


def install() -> None:
    try:
        from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol
        from autobahn.websocket.utf8validator import Utf8Validator  # noqa: F401  (autobahn present)
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # daphne not installed: nothing to fix
        return
    original = WebSocketProtocol.handle_reply
    if getattr(original, "_arbmonitor_close_codes", False):
        return

    def handle_reply(self: Any, message: dict[str, Any]) -> None:
        if (
            message.get("type") == "websocket.close"
            and message.get("code") in _SENDABLE
            and self.state == AutobahnProtocol.STATE_OPEN
        ):
            reason = (message.get("reason") or "").encode("utf-8")[:123] or None
            self.sendCloseFrame(code=message["code"], reasonUtf8=reason, isReply=False)
            return
        original(self, message)

    handle_reply._arbmonitor_close_codes = True  # type: ignore[attr-defined]
    WebSocketProtocol.handle_reply = handle_reply
