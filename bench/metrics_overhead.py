"""What one instrumentation call costs, single-process and in multiprocess mode (files in a temp dir).

Measures the per-call time of the hot-path calls: ``metrics.rpc_send`` around a no-op send (every
RPC request), ``metrics.ws_event_dispatched`` (once per notification per web process; it parses
the event's text for ``detected_at``) and a bare counter increment, against a plain function call.

    python bench/metrics_overhead.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
from datetime import UTC, datetime
from arbmonitor import metrics

calls = int(sys.argv[1])
text = json.dumps({"type": "opportunity", "timestamp": "x",
                   "data": {"id": 1, "chain_id": 56, "profit_usd": 12.5, "detected_at": datetime.now(UTC).isoformat()}})
event = {"channel": "opportunities", "text": text}

def noop(payload):
    return payload

def timed(fn):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6

results = {
    "plain call": timed(lambda: noop(1)),
    "counter inc": timed(metrics.WS_LAGGING_CLOSES.inc),
    "rpc_send (per RPC request)": timed(
        lambda: metrics.rpc_send(56, "http://127.0.0.1:8545", ["eth_blockNumber"], noop, 1)
    ),
    "ws_event_dispatched (per event)": timed(lambda: metrics.ws_event_dispatched(event, 10)),
}
print(json.dumps(results))
"""


def run(calls: int, multiproc_dir: str | None) -> dict[str, float]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="arbmonitor.settings", DEBUG="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiproc_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    out = subprocess.run([sys.executable, "-c", CHILD, str(calls)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    started = time.monotonic()
    single = run(args.calls, None)
    with tempfile.TemporaryDirectory() as directory:
        multi = run(args.calls, directory)
    print(f"{'call':<34} {'single process µs':>18} {'multiprocess µs':>16}")
    for name in single:
        print(f"{name:<34} {single[name]:>18.2f} {multi[name]:>16.2f}")
    print(f"({args.calls} calls each, {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
