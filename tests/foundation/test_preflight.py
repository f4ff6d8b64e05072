"""Configuration problems stop a process with one clear line, not a traceback loop."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arbmonitor.embedded_redis import free_port

BASE_DIR = Path(__file__).resolve().parents[2]


def _registry(tmp_path: Path, **entry: Any) -> Path:
    path = tmp_path / "chain.json"
    path.write_text(json.dumps({"chain_id": 56, "name": "test", "native_symbol": "BNB", "block_time": 1, **entry}))
    return path


def _env(database: Path, **env: str) -> dict[str, str]:
    full = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEBUG": "1", **env}
    full.pop("DJANGO_SETTINGS_MODULE", None)
    return full


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; each test works on a copy."""
    database = tmp_path_factory.mktemp("preflight") / "template.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=_env(database), check=True, timeout=120
    )
    return database


@pytest.fixture
def database(tmp_path: Path, migrated_database: Path) -> Path:
    copy = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated_database, copy)
    return copy


def _preflight(database: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = _env(database, **env)
    return subprocess.run(
        [sys.executable, "manage.py", "preflight", *args],
        cwd=BASE_DIR,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # one line, no traceback
    return lines[0]


def test_an_unmigrated_database_is_named(tmp_path: Path) -> None:
    result = _preflight(tmp_path / "empty.sqlite3", "--no-chains")
    assert "database: not migrated" in _one_line_error(result)
    assert "python manage.py migrate" in result.stderr


def test_an_unreachable_rpc_is_named(tmp_path: Path, database: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    registry = _registry(tmp_path, rpc_urls=[url])
    line = _one_line_error(_preflight(database, CHAIN_REGISTRY_FILES=str(registry)))
    assert line.startswith("CommandError: chain 56:") and url in line


@pytest.mark.integration
def test_an_endpoint_of_another_chain_is_named(tmp_path: Path, database: Path, devnet_137: Any) -> None:
    registry = _registry(tmp_path, rpc_urls=[devnet_137.rpc_url])  # says 56, the node is 137
    line = _one_line_error(_preflight(database, CHAIN_REGISTRY_FILES=str(registry)))
    assert "reports chain id 137, but it is configured for chain 56" in line


def test_a_missing_registry_file_is_named(tmp_path: Path, database: Path) -> None:
    line = _one_line_error(_preflight(database, CHAIN_REGISTRY_FILES=str(tmp_path / "nope.json")))
    assert "chain registry" in line and "nope.json does not exist" in line


def test_an_unreachable_redis_is_named(database: Path) -> None:
    line = _one_line_error(_preflight(database, "--no-chains", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"))
    assert "redis:" in line and "does not answer" in line


@pytest.mark.integration
def test_ready(database: Path, devnet_56: Any) -> None:
    result = _preflight(database, CHAIN_REGISTRY_FILES=str(devnet_56.manifest_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "preflight: ready"
