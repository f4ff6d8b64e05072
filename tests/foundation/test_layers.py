"""The layers point one way (docs/architecture.md): a module never imports a layer above its own.

Every ``import`` counts, including those inside functions and ``TYPE_CHECKING`` blocks:
a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Bottom to top. Same rank: peers.
RANK = {
    "evm": 0,  # no Django: the JSON-RPC client, ABI, Multicall3
    "dexes": 1,  # no Django: per DEX family, events and exact swap math
    "chains": 2,  # Django: chains, tokens, DEXes, pools; registry; pricing; clients per chain
    "scanning": 3,  # the scan loop, head watcher, shared write path, scan-kind registry, backfill dispatch
    "opportunities": 4,
    "transactions": 4,
    "streaming": 4,
    "alerts": 5,  # features over the stored detections: may use the apps' public pieces (filters)
    "api": 5,  # the REST API and its aggregates (receivers of chains.signals)
    "dashboard": 6,  # the pages; read through api's selectors
    "arbmonitor": 7,  # wiring: settings, urls, Celery, launcher
}
# Helpers of the wiring package that any layer with Django may use (they import nothing above chains).
SHARED = {"arbmonitor.env", "arbmonitor.timeutil", "arbmonitor.admin_utils", "arbmonitor.metrics"}
NO_DJANGO = {"evm", "dexes"}
# The only way apps reach a peer app: the streaming app's publishing API.
PEER_API = {"streaming.broadcast"}


def _modules() -> Iterator[tuple[str, Path]]:
    for package in RANK:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield package, path


def _imports(source: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from arbmonitor import metrics`` depends on arbmonitor.metrics, not on all of arbmonitor.
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _check(package: str, where: str, source: str) -> list[str]:
    found = []
    for line, module in _imports(source):
        top = module.split(".")[0]
        if package in NO_DJANGO and top in ("django", "channels", "celery"):
            found.append(f"{where}:{line}: {package} must not use Django ({module})")
        if top not in RANK or top == package:
            continue
        if package not in NO_DJANGO and any(module == m or module.startswith(m + ".") for m in SHARED):
            continue
        if RANK[top] > RANK[package]:
            found.append(f"{where}:{line}: {package} imports {module}, a layer above it")
        elif RANK[top] == RANK[package] and not any(module == m or module.startswith(m + ".") for m in PEER_API):
            found.append(f"{where}:{line}: {package} imports its peer's internals ({module})")
    return found


def test_no_module_imports_a_layer_above_its_own() -> None:
    violations = [
        v for package, path in _modules() for v in _check(package, str(path.relative_to(ROOT)), path.read_text())
    ]
    assert violations == []


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("chains", "from scanning.loop import scan_run\n", "a layer above it"),
        ("scanning", "def f():\n    from opportunities.tasks import scan_pools\n", "a layer above it"),
        ("transactions", "from opportunities.capture import opportunity_capture_link\n", "peer's internals"),
        ("evm", "from django.conf import settings\n", "must not use Django"),
        ("dexes", "from arbmonitor.env import env_int\n", "a layer above it"),
    ],
)
def test_the_check_catches_each_kind_of_violation(package: str, source: str, expected: str) -> None:
    """The rule is not vacuous: a planted upward import is reported."""
    assert any(expected in v for v in _check(package, "probe.py", source))
