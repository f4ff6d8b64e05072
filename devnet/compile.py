"""Compile devnet/contracts/*.sol with the npm-pinned solc into committed artifacts.

The artifacts are committed so that running the devnet needs node only for
anvil, and so a test can prove they are not stale (recompile and compare).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devnet import ARTIFACTS_DIR, CONTRACTS_DIR, DEVNET_DIR, REPO_ROOT

SOLC_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


class CompileError(RuntimeError):
    """solc reported errors, or node/solc is missing."""


def solc_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """Standard-JSON input; source names are bare file names so output never
    depends on where the checkout lives."""
    sources = {p.name: {"content": p.read_text()} for p in sorted(contracts_dir.glob("*.sol"))}
    if not sources:
        raise CompileError(f"no .sol files in {contracts_dir}")
    return {"language": "Solidity", "sources": sources, "settings": SOLC_SETTINGS}


def run_solc(std_input: dict[str, Any]) -> dict[str, Any]:
    """Run devnet/compile.mjs (solc-js) and return its parsed output."""
    node = shutil.which("node")
    if node is None:
        raise CompileError("node is not installed; the devnet needs Node.js (then run `npm ci`)")
    if not (REPO_ROOT / "node_modules" / "solc").exists():
        raise CompileError("npm package `solc` is missing: run `npm ci` at the repository root")
    proc = subprocess.run(
        [node, str(DEVNET_DIR / "compile.mjs")],
        input=json.dumps(std_input),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise CompileError(f"solc-js failed: {proc.stderr.strip()}")
    out = json.loads(proc.stdout)
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    return out


def artifacts_from_output(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Map contract name -> artifact dict (abi, bytecode, deployedBytecode)."""
    artifacts: dict[str, dict[str, Any]] = {}
    for source_name, contracts in sorted(out["contracts"].items()):
        for name, data in sorted(contracts.items()):
            if name in artifacts:
                raise CompileError(f"duplicate contract name {name}")
            bytecode = data["evm"]["bytecode"]["object"]
            if not bytecode:  # interfaces and abstract contracts
                continue
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_name,
                "compiler": "solc-js " + SOLC_VERSION_HINT,
                "abi": data["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
            }
    return artifacts


SOLC_VERSION_HINT = "0.8.37 (npm solc, optimizer 200 runs, evm cancun)"


def artifact_text(artifact: dict[str, Any]) -> str:
    """Deterministic serialisation (sorted keys, fixed indent, final newline)."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def compile_contracts(out_dir: Path = ARTIFACTS_DIR, contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """Compile every contract and (re)write `<out_dir>/<Contract>.json`.

    Stale artifacts of contracts that no longer exist are removed."""
    artifacts = artifacts_from_output(run_solc(solc_input(contracts_dir)))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in artifacts.items():
        path = out_dir / f"{name}.json"
        path.write_text(artifact_text(artifact))
        written.append(path)
    for old in out_dir.glob("*.json"):
        if old.stem not in artifacts:
            old.unlink()
    return written


def load_artifact(name: str, artifacts_dir: Path = ARTIFACTS_DIR) -> dict[str, Any]:
    """Read one committed artifact."""
    path = artifacts_dir / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"artifact {path} missing: run `python -m devnet compile`")
    return json.loads(path.read_text())
