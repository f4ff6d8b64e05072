"""Spec-shaped ``data`` objects for streaming tests (no database needed)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

_ids = itertools.count(1)


def opportunity(*, chain_id: int = 56, profit_usd: float = 45230.5, pool_name: str = "WBNB-BUSD") -> dict[str, Any]:
    n = next(_ids)
    return {
        "id": n,
        "chain_id": chain_id,
        "pool_name": pool_name,
        "pool_address": "0x58F876857a02D6762E0101bb5C46A8c1ED44Dc16",
        "imbalance_pct": 7.82,
        "profit_usd": profit_usd,
        "profit_native": 150.25,
        "reserve0": 10**21,
        "reserve1": 2 * 10**21,
        "block_number": 68286234 + n,
        "detected_at": "2025-11-16T16:54:43.123456Z",
        "captured": False,
        "captured_by": None,
        "capture_tx_hash": None,
    }


def transaction(
    *, chain_id: int = 56, profit_net_usd: float = 1499.25, swap_count: int = 3, tx_hash: str | None = None
) -> dict[str, Any]:
    n = next(_ids)
    return {
        "id": n,
        "chain_id": chain_id,
        "tx_hash": tx_hash or "0x" + f"{n:064x}",
        "from_address": "0x" + "ab" * 20,
        "block_number": 68286235,
        "block_timestamp": "2025-11-16T16:54:40.000000Z",
        "gas_price_gwei": 5.0,
        "gas_used": 250000,
        "gas_cost_native": 0.00125,
        "gas_cost_usd": 0.75,
        "swap_count": swap_count,
        "strategy": f"{swap_count}-hop",
        "profit_gross_usd": profit_net_usd + 0.75,
        "profit_net_usd": profit_net_usd,
        "pools_involved": ["0x" + "01" * 20, "0x" + "02" * 20],
        "tokens_involved": ["0x" + "11" * 20, "0x" + "12" * 20],
        "detected_at": "2025-11-16T16:54:43.123456Z",
    }


class ClientRecorder:
    """Runs a ``StreamClient``'s ``messages()`` in a task and keeps every message; ``until`` waits for a state."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.received: list[Any] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> ClientRecorder:
        self._task = asyncio.create_task(self._consume())
        return self

    async def _consume(self) -> None:
        async for message in self.client.messages():
            self.received.append(message)
            self._changed.set()

    async def until(self, predicate: Any) -> None:
        async with asyncio.timeout(60):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def of(self, kind: type) -> list[Any]:
        return [m for m in self.received if isinstance(m, kind)]

    async def stop(self) -> None:
        await self.client.close()
        if self._task is not None:
            self._task.cancel()
