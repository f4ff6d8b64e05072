"""Malformed environment values stop the process with an error naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from arbmonitor.env import env_bool, env_float, env_int, env_int_list, env_list, env_url


def test_env_int_parses_and_defaults() -> None:
    assert env_int("X", 7, environ={}) == 7
    assert env_int("X", 7, environ={"X": " 42 "}) == 42


@pytest.mark.parametrize("value", ["abc", "1.5", "0x10", "1e3"])
def test_env_int_rejects_malformed(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="WS_MAX_CONNECTIONS must be an integer"):
        env_int("WS_MAX_CONNECTIONS", 100, environ={"WS_MAX_CONNECTIONS": value})


def test_env_int_enforces_range() -> None:
    with pytest.raises(ImproperlyConfigured, match="WS_MAX_CONNECTIONS must be >= 1"):
        env_int("WS_MAX_CONNECTIONS", 100, minimum=1, environ={"WS_MAX_CONNECTIONS": "0"})


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "fast"])
def test_env_float_rejects_non_finite_and_garbage(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="WS_HEARTBEAT_SECONDS"):
        env_float("WS_HEARTBEAT_SECONDS", 30.0, environ={"WS_HEARTBEAT_SECONDS": value})


def test_env_bool() -> None:
    assert env_bool("DEBUG", False, environ={"DEBUG": "yes"}) is True
    assert env_bool("DEBUG", True, environ={"DEBUG": "0"}) is False
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_env_lists() -> None:
    assert env_list("ALLOWED_HOSTS", [], environ={"ALLOWED_HOSTS": "a.example, b.example,,"}) == [
        "a.example",
        "b.example",
    ]
    assert env_int_list("ENABLED_CHAINS", [], environ={"ENABLED_CHAINS": "56,137"}) == [56, 137]
    with pytest.raises(ImproperlyConfigured, match="ENABLED_CHAINS"):
        env_int_list("ENABLED_CHAINS", [], environ={"ENABLED_CHAINS": "56,bsc"})


@pytest.mark.parametrize("value", ["mysql://x/y", "postgres://", "not a url"])
def test_env_url_rejects_bad_scheme_or_host(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        env_url("DATABASE_URL", "sqlite:///x", schemes=("sqlite", "postgres"), environ={"DATABASE_URL": value})


def _load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with the given environment."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "REDIS_URL", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "-c", "import arbmonitor.settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE)"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_to_start_on_a_malformed_value() -> None:
    result = _load_settings(DEBUG="1", WS_MAX_CONNECTIONS="lots")
    assert result.returncode != 0
    assert "WS_MAX_CONNECTIONS must be an integer, got 'lots'" in result.stderr


def test_settings_need_a_secret_key_in_production() -> None:
    result = _load_settings(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_settings_production_defaults_are_safe() -> None:
    result = _load_settings(SECRET_KEY="s3cret")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]  # DEBUG off, secure cookies on


@pytest.mark.parametrize(
    ("url", "printed"),
    [
        ("redis://:s3cret@cache.internal:6380/2", "redis://:***@cache.internal:6380/2"),
        ("rediss://default:s3cret@cache.internal/0", "rediss://default:***@cache.internal/0"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_the_launcher_prints_redis_url_without_its_password(url: str, printed: str) -> None:
    from arbmonitor.env import redacted_url

    assert redacted_url(url) == printed
    assert "s3cret" not in redacted_url(url)
