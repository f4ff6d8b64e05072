"""The spec's JavaScript client example, as docs/protocol.md quotes it, run in Chromium against a real server.

The page comes from a plain local web server on another port (its ``Origin``, ``127.0.0.1``, is
in ``ALLOWED_HOSTS``); the example's ``ws://localhost:8000`` is the only thing changed (the server's
port). The example reports through ``console.log``: the test reads the console. Skipped, with the
reason, without a Chromium (tests/browser/conftest.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, SKIP_REASON
from tests.streaming import servers
from tests.streaming.helpers import opportunity, transaction

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON),
]

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TIMEOUT = 30.0


def spec_javascript_example() -> str:
    """The fenced JavaScript block under docs/protocol.md's "The spec's JavaScript example"."""
    text = PROTOCOL_MD.read_text()
    section = text.split("### The spec's JavaScript example", 1)[1]
    match = re.search(r"```javascript\n(.*?)```", section, re.DOTALL)
    assert match, "no javascript block in the section"
    return match.group(1)


@contextmanager
def page_server(html: bytes) -> Iterator[str]:
    """A plain local web server with one page: a site on another port, as a real page would be."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/spec-js-example.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_spec_javascript_example_receives_notifications_in_chromium(launch: Any, database_url: str) -> None:
    from playwright.sync_api import sync_playwright

    server = launch("uvicorn", WS_LEASE_KEY=f"test:ws:{uuid.uuid4().hex}")
    example = spec_javascript_example()
    assert "ws://localhost:8000/ws/v1/stream" in example
    script = example.replace("ws://localhost:8000/", f"ws://127.0.0.1:{server.port}/")
    html = f"<!doctype html>\n<title>spec example</title>\n<script>\n{script}\n</script>".encode()

    with page_server(html) as page_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            logs: list[tuple[str, list[Any]]] = []
            errors: list[str] = []
            page.on("console", lambda message: logs.append((message.type, [a.json_value() for a in message.args])))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_url)

            def wait_for(what: str, condition: Any) -> None:
                deadline = time.monotonic() + TIMEOUT
                while not condition():
                    assert time.monotonic() < deadline, f"never logged: {what}; console: {logs}"
                    page.wait_for_timeout(100)

            def logged(prefix: str) -> list[list[Any]]:
                return [args for kind, args in logs if kind == "log" and args and args[0] == prefix]

            wait_for("both subscriptions", lambda: len(logged("Subscribed to:")) == 2)
            token = uuid.uuid4().hex[:8]
            events = [
                ("opportunity", opportunity(chain_id=56, profit_usd=5.0, pool_name=f"{token}-too-small")),
                ("opportunity", opportunity(chain_id=137, profit_usd=50_000.0, pool_name=f"{token}-other-chain")),
                ("opportunity", opportunity(chain_id=56, profit_usd=45_230.5, pool_name=f"{token}-match")),
                ("transaction", transaction(swap_count=2)),
                ("transaction", transaction(swap_count=3)),
            ]
            servers.publish(database_url, events)
            wait_for("the notifications", lambda: logged("New opportunity:") and logged("New transaction:"))
            page.wait_for_timeout(500)  # anything that should not come would have come with them
        finally:
            browser.close()

    assert not errors, errors
    (connected,) = logged("Connection ID:")
    assert re.fullmatch(r"ws_[0-9a-f]{32}", connected[1])
    assert sorted(args[1] for args in logged("Subscribed to:")) == ["opportunities", "transactions"]
    opportunities = [args[1] for args in logged("New opportunity:")]
    assert [data["pool_name"] for data in opportunities] == [f"{token}-match"]  # chain 56, at least $1000
    assert opportunities[0] == json.loads(json.dumps(events[2][1]))  # the spec's data object, as published
    transactions = [args[1] for args in logged("New transaction:")]
    assert [data["swap_count"] for data in transactions] == [3]  # min_swaps 3
    assert not [args for kind, args in logs if kind == "error"]  # the example's console.error: no error message
