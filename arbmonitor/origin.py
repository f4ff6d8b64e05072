"""Origin checking for WebSocket handshakes.

Channels' ``AllowedHostsOriginValidator`` refuses a handshake that carries no
``Origin`` header unless ALLOWED_HOSTS contains ``*``. Browsers always send one,
so that check is what stops another web site's page from opening connections
with a visitor's cookies. Programs — the spec's Python client, websocat, trading
bots — send none and carry no cookies, so refusing them protects nothing. This
validator lets those through and still checks every Origin that is present.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))


def browser_origin_validator(application: Any) -> BrowserOriginValidator:
    """Like AllowedHostsOriginValidator: the allowed origins are ALLOWED_HOSTS."""
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
