"""A misbehaving public RPC endpoint in front of a real anvil, for failure tests.

Only the endpoint's misbehaviour is simulated (refused connections, slowness,
HTTP 429, JSON-RPC rate-limit errors, "too many results", a disabled
eth_getLogs); every request it lets through is answered by anvil.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RATE_LIMIT_ERROR = {"code": -32005, "message": "rate limit exceeded, please slow down"}
TOO_MANY_RESULTS = {"code": -32005, "message": "query returned more than 10000 results"}
GETLOGS_DISABLED = {"code": -32601, "message": "the method eth_getLogs does not exist/is not available"}


class FaultyRpc:
    """Modes: ``ok``, ``refuse`` (close the socket), ``slow`` (answer after ``delay``),
    ``http429`` (with Retry-After), ``ratelimit`` (JSON-RPC error), ``wrong_chain``.
    ``fail_times`` limits the fault to the first N requests; ``fail_rate`` = p faults each request with
    probability p, from a seeded generator (a flaky node, reproducibly). ``max_log_blocks`` makes
    eth_getLogs over wider ranges fail with "query returned more than 10000 results";
    ``getlogs_disabled`` refuses eth_getLogs like BSC's public endpoints.
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
        self.requests = 0
        self.faults = 0
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
            return self.mode

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        mode = self._fault_now()
        if mode == "refuse":
            handler.close_connection = True
            handler.connection.close()
            return
        if mode == "slow":
            time.sleep(self.delay)
        if mode == "http429":
            self._reply(handler, 429, b"Too Many Requests", {"Retry-After": self.retry_after})
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
            if self.max_log_blocks is not None and end - start + 1 > self.max_log_blocks:
                return {"jsonrpc": "2.0", "id": rid, "error": TOO_MANY_RESULTS}
        return None

    def _forward(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        req = urllib.request.Request(
            self.upstream, data=json.dumps(items).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return list(json.loads(resp.read()))

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
