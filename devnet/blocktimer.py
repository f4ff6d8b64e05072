"""Fractional block times for a running anvil: `evm_mine` on a clock.

anvil takes a fractional `--block-time` only at start; its RPC
`evm_setIntervalMining` takes whole seconds ("invalid number" for 0.45). The
devnet deploys with automine (one sender's hundreds of transactions: under
interval mining anvil drops a transaction whose predecessor nonce did not fit
in the block), so after deployment a BSC block time of 0.45 s is kept by this
timer: one `evm_mine` per tick of a monotonic schedule. A late tick is not made
up with a burst: the next block comes at the next tick, as a late block
producer would. `intervals` keeps the gaps actually achieved, for the record.
"""

from __future__ import annotations

import statistics
import threading
import time

from devnet.rpc import Chain


class BlockTimer:
    """Mines a block every `block_time` seconds until stop()."""

    def __init__(self, rpc_url: str, block_time: float) -> None:
        if block_time <= 0:
            raise ValueError("block_time must be positive")
        self.chain = Chain(rpc_url)
        self.block_time = block_time
        self.intervals: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"block-timer-{rpc_url}", daemon=True)

    def start(self) -> BlockTimer:
        self.chain.rpc("evm_setAutomine", [False])
        self.chain.rpc("evm_setIntervalMining", [0])
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        next_tick = time.monotonic() + self.block_time
        last: float | None = None
        while not self._stop.wait(max(0.0, next_tick - time.monotonic())):
            try:
                self.chain.rpc("evm_mine")
            except Exception:  # a node going away ends in stop(); keep the clock
                self.errors += 1
            now = time.monotonic()
            if last is not None:
                self.intervals.append(now - last)
            last = now
            next_tick += self.block_time
            if next_tick < now:  # fell behind: skip the missed ticks
                next_tick = now + self.block_time - (now - next_tick) % self.block_time

    def summary(self) -> str:
        if len(self.intervals) < 2:
            return f"target {self.block_time}s: too few blocks"
        q = statistics.quantiles(self.intervals, n=100, method="inclusive")
        return (
            f"target {self.block_time}s: {len(self.intervals) + 1} blocks, interval "
            f"p50 {statistics.median(self.intervals):.3f}s p99 {q[98]:.3f}s max {max(self.intervals):.3f}s"
        )
