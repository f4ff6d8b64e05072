"""Typed readers for environment variables that fail loudly.

Every setting that comes from the environment goes through one of these, so a
malformed value stops the process at start with ``ImproperlyConfigured`` naming
the variable, instead of surfacing later as an odd runtime error.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from urllib.parse import urlparse, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = int(value, 10)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    _check_range(name, number, minimum, maximum)
    return number


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ImproperlyConfigured(f"{name} must be a finite number, got {value!r}")
    _check_range(name, number, minimum, maximum)
    return number


def env_list(name: str, default: list[str], *, environ: Mapping[str, str] | None = None) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int_list(name: str, default: list[int], *, environ: Mapping[str, str] | None = None) -> list[int]:
    """A comma-separated list of integers, e.g. chain ids ``56,137``."""
    items = env_list(name, [str(d) for d in default], environ=environ)
    try:
        return [int(item, 10) for item in items]
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a comma-separated list of integers, got {','.join(items)!r}"
        ) from None


def env_networks(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A comma-separated list of CIDRs (``10.0.0.0/8,::1/128``); a single address is a /32 or /128."""
    items = env_list(name, default, environ=environ)
    try:
        return [ipaddress.ip_network(item, strict=False) for item in items]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a comma-separated list of CIDRs: {exc}") from None


def env_url(
    name: str,
    default: str,
    *,
    schemes: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> str:
    value = env_str(name, default, environ=environ)
    _check_url(name, value, schemes)
    return value


def env_url_list(
    name: str, default: list[str], *, schemes: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> list[str]:
    urls = env_list(name, default, environ=environ)
    for url in urls:
        _check_url(name, url, schemes)
    return urls


def _check_url(name: str, value: str, schemes: tuple[str, ...]) -> None:
    parsed = urlparse(value)
    if parsed.scheme not in schemes:
        raise ImproperlyConfigured(f"{name} must be a URL with scheme {' or '.join(schemes)}, got {value!r}")
    if parsed.scheme not in ("sqlite", "unix") and not parsed.hostname:
        raise ImproperlyConfigured(f"{name} has no host: {value!r}")


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be <= {maximum}, got {number}")


def redacted_url(url: str) -> str:
    """A URL safe to print: its password (``redis://:secret@host``, ``redis://user:secret@host``) replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}***@{host}"))
