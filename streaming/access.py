"""Who is connecting, as plain values: the API key a handshake carries and the client's address.

No I/O here: ``streaming.gate`` looks the key up and takes the slots.

A key may come in any one of three forms (docs/protocol.md "API keys"):

- the header ``X-API-Key: <key>``;
- the query parameter ``?api_key=<key>``;
- the subprotocol ``arbmonitor.key.<key>``, offered together with ``arbmonitor.v1`` (browsers can
  set no header; the server then selects ``arbmonitor.v1``, never the key).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

HEADER: Final = b"x-api-key"
QUERY_PARAMETER: Final = "api_key"
SUBPROTOCOL: Final = "arbmonitor.v1"
KEY_SUBPROTOCOL_PREFIX: Final = "arbmonitor.key."
MAX_KEY_LENGTH: Final = 200

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CredentialError(ValueError):
    """The handshake's key cannot be used (sent twice with different values, empty, too long)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    key: str | None  # None: anonymous
    form: str | None  # "header", "query" or "subprotocol"
    subprotocol: str | None  # what the server must select in its handshake answer


def credentials_from_scope(scope: dict[str, Any]) -> Credentials:
    """The key of a WebSocket handshake (any one form; several forms must agree)."""
    found: list[tuple[str, str]] = []
    for name, value in scope.get("headers") or ():
        if name.lower() == HEADER:
            found.append(("header", value.decode("latin-1").strip()))
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"), keep_blank_values=True)
    found.extend(("query", value.strip()) for value in query.get(QUERY_PARAMETER, []))
    offered: Sequence[str] = scope.get("subprotocols") or ()
    found.extend(
        ("subprotocol", protocol[len(KEY_SUBPROTOCOL_PREFIX) :])
        for protocol in offered
        if protocol.startswith(KEY_SUBPROTOCOL_PREFIX)
    )
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    if not found:
        return Credentials(None, None, subprotocol)
    keys = {key for _, key in found}
    if len(keys) > 1:
        raise CredentialError("Invalid API key: more than one key was sent")
    key = keys.pop()
    if not key:
        raise CredentialError("Invalid API key: the key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise CredentialError("Invalid API key")
    return Credentials(key, found[0][0], subprotocol)


def client_address(scope: dict[str, Any], trusted_proxies: Iterable[Network]) -> str | None:
    """The client's address: the TCP peer, or, when that peer is a trusted proxy, from ``X-Forwarded-For``.

    The header is read right to left (each proxy appends the address it saw), skipping
    trusted proxies; the first address that is not one is the client. A header from an
    untrusted peer is ignored entirely: anyone can write one. None when the server
    does not know the peer (a Unix socket).
    """
    client = scope.get("client")
    peer = _parse(client[0]) if client else None
    if peer is None:
        return None
    trusted = list(trusted_proxies)
    if not _inside(peer, trusted):
        return str(peer)
    hops: list[str] = []
    for name, value in scope.get("headers") or ():
        if name.lower() == b"x-forwarded-for":
            hops.extend(part.strip() for part in value.decode("latin-1").split(","))
    address = peer
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:  # garbage where an address should be: trust nothing further left
            break
        address = parsed
        if not _inside(parsed, trusted):
            break
    return str(address)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _inside(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: list[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)
