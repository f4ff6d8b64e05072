"""A real HTTP server playing the three destinations by their request shapes.

- ``/hook/<name>``: a generic webhook; records method, headers and the raw body.
- ``/api/webhooks/<id>/<token>``: Discord's execute-webhook; answers 204 (or what is scripted).
- ``/bot<token>/sendMessage``: Telegram's Bot API; answers ``{"ok": true, "result": {...}}``.

``script(path_prefix, *responses)`` queues responses for requests under a prefix: each is
``(status, headers, body)``, or ``("sleep", seconds)`` to answer late (a timeout), or
``("hold",)`` to keep the request open until ``release()`` (a worker killed mid-send).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: dict[str, deque[tuple[Any, ...]]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.arrived = threading.Condition(self._lock)
        self._release = threading.Event()
        self.held = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                record = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                action = receiver._next(self.path)
                with receiver.arrived:
                    receiver.requests.append(record)
                    receiver.arrived.notify_all()
                if action[0] == "hold":
                    receiver.held.set()
                    receiver._release.wait(60)
                elif action[0] == "sleep":
                    time.sleep(action[1])
                    action = receiver._default(self.path)
                status, headers, payload = action
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                    if status == 204:
                        data = b""
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client is gone (timed out, or killed)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def script(self, prefix: str, *responses: tuple[Any, ...]) -> None:
        with self._lock:
            self._script[prefix].extend(responses)

    def release(self) -> None:
        self._release.set()

    def _next(self, path: str) -> tuple[Any, ...]:
        with self._lock:
            for prefix, queue in self._script.items():
                if path.startswith(prefix) and queue:
                    return queue.popleft()
        return self._default(path)

    def _default(self, path: str) -> tuple[int, dict[str, str], Any]:
        if path.startswith("/bot"):
            return 200, {"Content-Type": "application/json"}, {"ok": True, "result": {"message_id": len(self.requests)}}
        if path.startswith("/api/webhooks/"):
            return 204, {}, b""
        return 200, {"Content-Type": "application/json"}, {"received": True}

    def wait_for(self, count: int, *, prefix: str = "/", timeout: float = 60.0) -> list[Received]:
        """Block until ``count`` requests under ``prefix`` arrived; returns them."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                got = [r for r in self.requests if r.path.startswith(prefix)]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"only {len(got)} of {count} requests to {prefix} arrived"
                self.arrived.wait(remaining)

    def under(self, prefix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]
