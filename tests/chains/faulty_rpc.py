"""A misbehaving public RPC endpoint in front of a real anvil, for failure tests and the soak.

Only the endpoint's misbehaviour is simulated (refused connections, resets, slowness,
HTTP 429 and 502, JSON-RPC rate-limit errors, garbage and truncated bodies, a stale head,
"too many results", a disabled eth_getLogs); every request it lets through is answered by anvil.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RATE_LIMIT_ERROR = {"code": -32005, "message": "rate limit exceeded, please slow down"}
TOO_MANY_RESULTS = {"code": -32005, "message": "query returned more than 10000 results"}
GETLOGS_DISABLED = {"code": -32601, "message": "the method eth_getLogs does not exist/is not available"}

# What ``mixed`` draws from: every way a public endpoint was seen to misbehave (issue 11).
MIXED_FAULTS = ("refuse", "reset", "slow", "http429", "http502", "ratelimit", "garbage", "truncated", "stale")


class FaultyRpc:
    """Modes: ``ok``, ``refuse`` (close the socket), ``reset`` (TCP RST), ``slow`` (answer after ``delay``),
    ``http429`` (with Retry-After), ``http502``, ``ratelimit`` (JSON-RPC -32005), ``garbage`` (200 with a
    body that is not JSON), ``truncated`` (200 whose body stops half way), ``stale`` (``eth_blockNumber``
    answers a head ``stale_blocks`` behind, the rest is served), ``wrong_chain``, and ``mixed``: each
    faulted request gets one of ``MIXED_FAULTS``, drawn from the seeded generator.
    ``fail_times`` limits the fault to the first N requests; ``fail_rate`` = p faults each request with
    probability p, from a seeded generator (a flaky node, reproducibly). ``max_log_blocks`` makes
    eth_getLogs over wider ranges fail with "query returned more than 10000 results";
    ``getlogs_disabled`` refuses eth_getLogs like BSC's public endpoints. ``hold_logs_from = N`` holds
    the first eth_getLogs reaching block N or later (``held`` is set) until ``release()``: the caller
    is then known to be mid-batch, inside its fetch.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "ok"
        self.fail_times: int | None = None
        self.fail_rate: float | None = None
        self.rng = random.Random(0)
        self.delay = 1.0
        self.retry_after = "0"
        self.max_log_blocks: int | None = None
        self.getlogs_disabled = False
        self.wrong_chain_id = 1
        self.stale_blocks = 3
        self.hold_logs_from: int | None = None
        self.held = threading.Event()
        self._released = threading.Event()
        self.requests = 0
        self.faults = 0
        self.fault_counts: dict[str, int] = {}
        self.log_ranges: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultyRpc:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                proxy.handle(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def set(self, mode: str, fail_times: int | None = None, **options: Any) -> None:
        with self._lock:
            self.mode, self.fail_times = mode, fail_times
            for key, value in options.items():
                setattr(self, key, value)

    # --- request handling -----------------------------------------------------------------

    def _fault_now(self) -> str:
        with self._lock:
            self.requests += 1
            if self.mode == "ok":
                return "ok"
            if self.fail_rate is not None and self.rng.random() >= self.fail_rate:
                return "ok"
            if self.fail_times is not None:
                if self.fail_times <= 0:
                    return "ok"
                self.fail_times -= 1
            self.faults += 1
            mode = self.rng.choice(MIXED_FAULTS) if self.mode == "mixed" else self.mode
            self.fault_counts[mode] = self.fault_counts.get(mode, 0) + 1
            return mode

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        mode = self._fault_now()
        if mode in ("refuse", "reset"):
            handler.close_connection = True
            if mode == "reset":  # SO_LINGER 0: close() sends RST instead of FIN
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
            return
        if mode == "slow":
            time.sleep(self.delay)
        if mode == "http429":
            self._reply(handler, 429, b"Too Many Requests", {"Retry-After": self.retry_after})
            return
        if mode == "http502":
            self._reply(handler, 502, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
            return
        if mode == "garbage":
            self._reply(handler, 200, b"<html>upstream unavailable", {"Content-Type": "application/json"})
            return
        payload = json.loads(body)
        items = payload if isinstance(payload, list) else [payload]
        if mode == "ratelimit":
            errors = [{"jsonrpc": "2.0", "id": p.get("id"), "error": RATE_LIMIT_ERROR} for p in items]
            self._json(handler, errors if isinstance(payload, list) else errors[0])
            return
        answers: dict[Any, dict[str, Any]] = {}
        forward = []
        for p in items:
            canned = self._canned(p, mode)
            if canned is not None:
                answers[p.get("id")] = canned
            else:
                forward.append(p)
        if forward:
            upstream = self._forward(forward)
            for reply in upstream:
                answers[reply.get("id")] = reply
        replies = [answers[p.get("id")] for p in items]
        if mode == "stale":
            for p in items:
                reply = answers[p.get("id")]
                if p.get("method") == "eth_blockNumber" and isinstance(reply.get("result"), str):
                    reply["result"] = hex(max(int(reply["result"], 16) - self.stale_blocks, 0))
        if mode == "truncated":
            body = json.dumps(replies if isinstance(payload, list) else replies[0]).encode()
            handler.close_connection = True
            try:  # the full length announced, half the body sent, then the connection closed
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body[: len(body) // 2])
                handler.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        self._json(handler, replies if isinstance(payload, list) else replies[0])

    def _canned(self, request: dict[str, Any], mode: str) -> dict[str, Any] | None:
        method, rid = request.get("method"), request.get("id")
        if mode == "wrong_chain" and method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": rid, "result": hex(self.wrong_chain_id)}
        if method == "eth_getLogs":
            if self.getlogs_disabled:
                return {"jsonrpc": "2.0", "id": rid, "error": GETLOGS_DISABLED}
            flt = request["params"][0]
            start, end = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
            with self._lock:
                self.log_ranges.append((start, end))
                hold = self.hold_logs_from is not None and end >= self.hold_logs_from and not self.held.is_set()
                if hold:
                    self.held.set()
            if hold:
                self._released.wait(60)
            if self.max_log_blocks is not None and end - start + 1 > self.max_log_blocks:
                return {"jsonrpc": "2.0", "id": rid, "error": TOO_MANY_RESULTS}
        return None

    def _forward(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        req = urllib.request.Request(
            self.upstream, data=json.dumps(items).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return list(json.loads(resp.read()))

    def release(self) -> None:
        """Let a held eth_getLogs go (and hold no other)."""
        with self._lock:
            self.hold_logs_from = None
        self._released.set()

    def counts(self) -> dict[str, Any]:
        """Requests served, faults injected and how many of each kind."""
        with self._lock:
            return {
                "requests": self.requests,
                "faults": self.faults,
                "by_kind": dict(sorted(self.fault_counts.items())),
            }

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, data: Any) -> None:
        FaultyRpc._reply(handler, 200, json.dumps(data).encode(), {"Content-Type": "application/json"})

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): that is the point of "slow"
