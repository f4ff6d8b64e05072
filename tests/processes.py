"""Helpers for tests that run the project as separate processes (the whole stack, a Celery worker).

Such processes cannot share the test database or pytest's settings: each gets a database of its
own and an environment without pytest's variables.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse


def child_environ() -> dict[str, str]:
    """This process's environment without pytest's and the test settings' variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}


@contextmanager
def scratch_database(tmp_path: Path, prefix: str) -> Iterator[str]:
    """The DATABASE_URL of an empty database: SQLite in ``tmp_path``, or, when the suite runs on
    PostgreSQL, a fresh ``{prefix}_{pid}`` database on that server, dropped afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / (prefix + '.sqlite3')}"
        return
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    admin = urlparse(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlparse(url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def process_log(tmp_path: Path, name: str) -> str:
    """The end of the log a child process named ``name`` wrote to ``tmp_path / f"{name}.log"``."""
    path = tmp_path / f"{name}.log"
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


def stop_process_groups(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each live process group (started with ``start_new_session``), then SIGKILL what outlives 20 s."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
