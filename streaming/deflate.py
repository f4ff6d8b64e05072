"""permessage-deflate (RFC 7692) on or off for both servers, from one setting: WS_PER_MESSAGE_DEFLATE.

uvicorn negotiates it when its ``ws_per_message_deflate`` option is on (its default);
daphne (autobahn) never does unless its factory is told how to accept an offer.
``install()`` runs when Django starts, inside the server process, before it serves a
connection:

- uvicorn (when this process runs it): each of its WebSocket protocol classes gets its config's
  ``ws_per_message_deflate`` set from the setting as a connection starts (so the
  setting wins over uvicorn's ``--ws-per-message-deflate`` flag);
- daphne: its WebSocket factory accepts the client's deflate offer when the setting is on,
  with the same 4 KiB window and ``memLevel`` 5 as uvicorn (memory per connection).

A client that does not offer the extension gets plain frames either way.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

from django.conf import settings

_UVICORN_PROTOCOLS = (
    ("uvicorn.protocols.websockets.websockets_sansio_impl", "WebSocketsSansIOProtocol"),
    ("uvicorn.protocols.websockets.websockets_impl", "WebSocketProtocol"),
    ("uvicorn.protocols.websockets.wsproto_impl", "WSProtocol"),
)
_MARK = "_arbmonitor_deflate"


def install() -> None:
    _install_uvicorn()
    _install_daphne()


def _install_uvicorn() -> None:
    if "uvicorn" not in sys.modules:  # not a uvicorn process: leave uvicorn alone
        return
    for module_name, class_name in _UVICORN_PROTOCOLS:
        try:
            with warnings.catch_warnings():  # the legacy backends warn on import; this process may not use them
                warnings.simplefilter("ignore")
                module = importlib.import_module(module_name)
        except ImportError:  # that backend's library is not installed
            continue
        cls = getattr(module, class_name, None)
        if cls is None or getattr(cls.__init__, _MARK, False):
            continue
        original = cls.__init__

        def init(self: Any, config: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            config.ws_per_message_deflate = settings.WS_PER_MESSAGE_DEFLATE
            _original(self, config, *args, **kwargs)

        setattr(init, _MARK, True)
        cls.__init__ = init


def _install_daphne() -> None:
    try:
        module = importlib.import_module("daphne.ws_protocol")
    except ImportError:  # daphne not installed
        return
    from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

    factory = module.WebSocketFactory
    if getattr(factory.__init__, _MARK, False):
        return
    original = factory.__init__

    def accept(offers: list[Any]) -> Any:
        for offer in offers:
            if isinstance(offer, PerMessageDeflateOffer):
                # A smaller window only when the client allows the server to choose one.
                bits = 12 if offer.accept_max_window_bits else None
                return PerMessageDeflateOfferAccept(offer, window_bits=bits, mem_level=5)
        return None

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if settings.WS_PER_MESSAGE_DEFLATE:
            self.setProtocolOptions(perMessageCompressionAccept=accept)

    setattr(init, _MARK, True)
    factory.__init__ = init
