"""Run every benchmark in turn (`make bench`). Each prints its own tables; results are recorded by hand
in bench/RESULTS.md (and the detailed RESULTS-*.md files) after a run on a quiet machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ["evm_codec.py"],
    ["scan_pools_math.py", "--blocks", "10"],
    ["scan_pools.py", "--blocks", "20", "--devnet"],
    ["backfill.py", "--densities", "50,200", "--blocks", "400,150"],
    ["ws_fanout.py", "--duration", "10"],
    ["latency.py", "--modes", "on", "--beat-interval", "10"],
    ["metrics_overhead.py"],
    ["api.py"],  # loads 10M + 10M rows into arb_api_bench the first time (about an hour, 26 GB)
]


def main() -> int:
    failed = []
    for script, *args in BENCHMARKS:
        print(f"\n===== {script} {' '.join(args)}", flush=True)
        if subprocess.call([sys.executable, str(HERE / script), *args]) != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
