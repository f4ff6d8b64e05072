"""Start and stop anvil nodes for the devnet chains.

Anvil is the npm package `@foundry-rs/anvil` pinned in package.json; the
platform binary is launched directly (not through the node wrapper) so the
process we stop is the node itself. Every launched process is stopped on
`stop()`, on context-manager exit, at interpreter exit, and (Linux) by the
kernel if this Python process dies (PR_SET_PDEATHSIG), so no anvil is ever
left orphaned.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devnet import REPO_ROOT
from evm.rpc import ChainClient, RpcResponseError, RpcUnavailable

# Fixed mnemonic: accounts (and therefore every deployed address) are the same
# on every run. This is anvil's well-known test mnemonic; never use it on a
# real chain.
DEVNET_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_ACCOUNTS = 20
DEFAULT_BALANCE_ETHER = 1_000_000_000
DEFAULT_BLOCK_TIME = {56: 1.0, 137: 2.0}
DEFAULT_GAS_LIMIT = 140_000_000


class AnvilNotInstalledError(RuntimeError):
    """The anvil binary is not available."""


class AnvilStartError(RuntimeError):
    """anvil did not come up."""


def anvil_binary() -> Path:
    """Locate the anvil executable: $ANVIL_BIN, the npm platform binary, the
    npm wrapper, then PATH."""
    env = os.environ.get("ANVIL_BIN")
    if env:
        path = Path(env)
        if not path.exists():
            raise AnvilNotInstalledError(f"ANVIL_BIN={env} does not exist")
        return path
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    exe = "anvil.exe" if system == "win32" else "anvil"
    candidates = [
        REPO_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / exe,
        REPO_ROOT / "node_modules" / ".bin" / "anvil",
    ]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise AnvilNotInstalledError(
        "anvil is not installed: run `npm ci` at the repository root "
        "(package.json pins @foundry-rs/anvil), or set ANVIL_BIN"
    )


def free_port() -> int:
    """A TCP port that is free right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGTERM the child when the parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setpgrp()  # own process group: Ctrl-C in a terminal reaches us, not anvil


_RUNNING: set[AnvilProcess] = set()
_RUNNING_LOCK = threading.Lock()


@dataclass(eq=False)
class AnvilProcess:
    """One anvil node. Use as a context manager or call start()/stop().

    block_time=None means "fast mode": automine off, blocks only on evm_mine.
    automine=True (and block_time=None) mines one block per transaction,
    which is what deployment scripts want.
    """

    chain_id: int
    port: int | None = None
    block_time: float | None = None
    automine: bool = False
    host: str = "127.0.0.1"
    accounts: int = DEFAULT_ACCOUNTS
    balance_ether: int = DEFAULT_BALANCE_ETHER
    gas_limit: int = DEFAULT_GAS_LIMIT
    base_fee: int = 0
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    startup_timeout: float = 15.0
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_file: Any = field(default=None, init=False, repr=False)

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        cmd = [
            str(anvil_binary()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--mnemonic", DEVNET_MNEMONIC,
            "--accounts", str(self.accounts),
            "--balance", str(self.balance_ether),
            "--gas-limit", str(self.gas_limit),
            "--base-fee", str(self.base_fee),
            "--disable-min-priority-fee",
            "--order", "fees",
        ]  # fmt: skip
        if self.block_time is not None:
            cmd += ["--block-time", _fmt_seconds(self.block_time)]
        elif not self.automine:
            cmd += ["--no-mining"]
        return cmd + list(self.extra_args)

    def start(self) -> AnvilProcess:
        """Launch anvil and wait until it answers eth_chainId."""
        if self.proc is not None:
            raise AnvilStartError("already started")
        explicit_port = self.port is not None
        last_error = ""
        for _attempt in range(1 if explicit_port else 3):
            if not explicit_port:
                self.port = free_port()
            self._spawn()
            try:
                self._wait_ready()
                return self
            except AnvilStartError as exc:
                last_error = str(exc)
                self.stop()
        raise AnvilStartError(last_error)

    def _spawn(self) -> None:
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"anvil-{self.chain_id}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if os.name == "posix" else None,
        )
        with _RUNNING_LOCK:
            _RUNNING.add(self)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AnvilStartError(f"anvil exited with {self.proc.returncode}: {self._log_tail()}")
            try:
                got = rpc_call(self.rpc_url, "eth_chainId", [], timeout=1.0)
                if int(got, 16) != self.chain_id:
                    raise AnvilStartError(f"port {self.port} answers chain {int(got, 16)}, not {self.chain_id}")
                return
            except ConnectionError:
                time.sleep(0.05)
        raise AnvilStartError(
            f"anvil did not answer on {self.rpc_url} within {self.startup_timeout}s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            return (self.log_path.read_bytes()[-800:] if self.log_path else b"").decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate anvil (SIGTERM, then SIGKILL) and reap it. Idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        with _RUNNING_LOCK:
            _RUNNING.discard(self)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """Raw JSON-RPC call (for anvil_* / evm_* methods)."""
        return rpc_call(self.rpc_url, method, params or [])

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def rpc_call(url: str, method: str, params: list[Any], timeout: float = 30.0) -> Any:
    """One JSON-RPC call to a node, through the project's one client (``evm.rpc``), no retries.

    A transport failure raises ``ConnectionError``; a JSON-RPC error ``RuntimeError``.
    """
    client = ChainClient(
        chain_id=0, rpc_urls=(url,), timeout=timeout, max_retries=0, verify_chain_id=False, log_failures=False
    )
    try:
        return client.call(method, params)
    except RpcUnavailable as exc:
        raise ConnectionError(str(exc)) from exc
    except RpcResponseError as exc:
        raise RuntimeError(f"{method}: {exc.message}") from exc
    finally:
        client.close()


def stop_all() -> None:
    """Stop every anvil this process started (atexit and signal handlers)."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for node in running:
        with contextlib.suppress(Exception):
            node.stop()


atexit.register(stop_all)
