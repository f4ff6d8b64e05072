"""API keys as plain values and rows: the three ways to send one, the client's address behind proxies,
the stored hash, the admin that shows a new key once."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from streaming.access import CredentialError, Credentials, client_address, credentials_from_scope
from streaming.models import ApiKey
from streaming.selectors import api_key_grant
from streaming.services import api_key_create, api_key_hash

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]


def scope(
    *, headers: list[tuple[bytes, bytes]] = (), query: bytes = b"", subprotocols: list[str] = (), client: Any = None
) -> dict[str, Any]:
    return {
        "type": "websocket",
        "headers": list(headers),
        "query_string": query,
        "subprotocols": list(subprotocols),
        "client": client,
    }


def test_a_key_is_read_from_the_header_the_query_or_a_subprotocol() -> None:
    assert credentials_from_scope(scope(headers=[(b"X-API-Key", b" amk_a ")])) == Credentials("amk_a", "header", None)
    assert credentials_from_scope(scope(query=b"x=1&api_key=amk_b")) == Credentials("amk_b", "query", None)
    offered = ["arbmonitor.v1", "arbmonitor.key.amk_c"]
    assert credentials_from_scope(scope(subprotocols=offered)) == Credentials("amk_c", "subprotocol", "arbmonitor.v1")
    # The same key twice is fine; the server never selects the key's subprotocol.
    both = scope(headers=[(b"x-api-key", b"amk_d")], subprotocols=["arbmonitor.key.amk_d"])
    assert credentials_from_scope(both) == Credentials("amk_d", "header", None)
    assert credentials_from_scope(scope(subprotocols=["arbmonitor.v1"])) == Credentials(None, None, "arbmonitor.v1")
    assert credentials_from_scope(scope()) == Credentials(None, None, None)


@pytest.mark.parametrize(
    ("handshake", "message"),
    [
        (
            scope(headers=[(b"x-api-key", b"amk_a")], query=b"api_key=amk_b"),
            "Invalid API key: more than one key was sent",
        ),
        (scope(query=b"api_key="), "Invalid API key: the key is empty"),
        (scope(subprotocols=["arbmonitor.key."]), "Invalid API key: the key is empty"),
        (scope(query=b"api_key=" + b"a" * 201), "Invalid API key"),
    ],
)
def test_a_key_that_cannot_be_used_is_an_error(handshake: dict[str, Any], message: str) -> None:
    with pytest.raises(CredentialError) as error:
        credentials_from_scope(handshake)
    assert str(error.value) == message


def forwarded(peer: str, header: str | None) -> dict[str, Any]:
    headers = [] if header is None else [(b"x-forwarded-for", header.encode())]
    return scope(headers=headers, client=[peer, 50000])


@pytest.mark.parametrize(
    ("peer", "header", "address"),
    [
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # not a proxy: the header is anybody's
        ("10.0.0.2", None, "10.0.0.2"),  # a proxy's own connection
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "192.0.2.66, 198.51.100.1", "198.51.100.1"),  # the client wrote the left part: ignored
        ("10.0.0.2", "198.51.100.1, 10.0.0.9", "198.51.100.1"),  # two proxies
        ("10.0.0.2", "10.0.0.7, 10.0.0.9", "10.0.0.7"),  # only proxies: the leftmost
        ("10.0.0.2", "garbage, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "198.51.100.1, garbage", "10.0.0.2"),  # nothing left of garbage is believed
        ("::1", "2001:db8::5", "2001:db8::5"),
        ("::ffff:10.0.0.2", "198.51.100.1", "198.51.100.1"),  # an IPv4-mapped peer is its IPv4 address
    ],
)
def test_the_client_address_comes_from_forwarded_for_only_through_trusted_proxies(
    peer: str, header: str | None, address: str
) -> None:
    assert client_address(forwarded(peer, header), PROXIES) == address


def test_without_trusted_proxies_the_header_is_never_believed() -> None:
    assert client_address(forwarded("127.0.0.1", "198.51.100.1"), []) == "127.0.0.1"
    assert client_address(scope(client=None), PROXIES) is None


@pytest.mark.django_db
def test_only_a_hash_of_a_key_is_stored_and_an_inactive_key_grants_nothing() -> None:
    row, key = api_key_create(name="desk", max_connections=3, max_subscriptions=5)
    stored = ApiKey.objects.get(id=row.id)
    assert key.startswith("amk_") and len(key) == 47
    assert stored.key_hash == api_key_hash(key) and key not in stored.key_hash
    assert stored.prefix == key[:12]
    grant = api_key_grant(key=key)
    assert grant is not None and (grant.name, grant.max_connections, grant.max_subscriptions) == ("desk", 3, 5)
    assert api_key_grant(key=key + "x") is None
    ApiKey.objects.filter(id=row.id).update(is_active=False)
    assert api_key_grant(key=key) is None


def test_the_admin_creates_a_key_and_shows_it_once(admin_client: Any) -> None:
    response = admin_client.post(
        "/admin/streaming/apikey/add/",
        {"name": "partner", "is_active": "on", "max_connections": "4", "max_subscriptions": "8"},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"] if "API key for partner" in str(m)]
    assert len(shown) == 1
    key = shown[0].split(": ", 1)[1].split(" ")[0]
    row = ApiKey.objects.get(name="partner")
    assert row.key_hash == api_key_hash(key) and (row.max_connections, row.max_subscriptions) == (4, 8)
    # Editing it later never shows (or changes) the key.
    response = admin_client.post(
        f"/admin/streaming/apikey/{row.id}/change/",
        {"name": "partner", "max_connections": "4", "max_subscriptions": "8"},
        follow=True,
    )
    assert not [m for m in response.context["messages"] if "API key for" in str(m)]
    row.refresh_from_db()
    assert row.key_hash == api_key_hash(key) and not row.is_active
