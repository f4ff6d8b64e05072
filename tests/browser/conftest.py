"""Browser tests: Playwright driving the system's Chromium (Debian's ``chromium``), never a downloaded one.

Skipped, with the reason printed, when no Chromium binary is found (``CHROMIUM`` overrides the path).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.streaming.servers import ROOT, WebServer, base_env, prepare_database, start_server

ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM = chromium_path()
SKIP_REASON = "browser tests skipped: no Chromium found (apt-get install chromium, or set CHROMIUM=/path)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM is not None:
        return
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def pytest_report_header(config: pytest.Config) -> str:
    return f"browser tests: Chromium at {CHROMIUM}" if CHROMIUM else SKIP_REASON


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real web server (uvicorn) on a SQLite file with a few days of arbitrages, and the Redis of the suite."""
    workdir = tmp_path_factory.mktemp("browser")
    database_url = prepare_database(workdir / "db.sqlite3")
    env = base_env(database_url, WS_LEASE_KEY=f"test:ws:browser:{os.getpid()}")
    seeded = json.loads(seed(database_url, "market"))
    # As in production (arbmonitor.run, the Dockerfile): whitenoise serves the collected files.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], env=env, cwd=ROOT, check=True, timeout=120
    )
    server = start_server("uvicorn", env, workdir)
    try:
        yield {"server": server, "database_url": database_url, **seeded}
    finally:
        server.stop()


def seed(database_url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tests.browser.seed", *args],
        env=base_env(database_url),
        cwd=ROOT,
        check=True,
        timeout=120,
        capture_output=True,
    )
    return result.stdout.decode().strip().splitlines()[-1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


__all__ = ["WebServer"]
