"""A small command-line client for /ws/v1/stream: subscribe and print what arrives.

    python -m streaming.client ws://127.0.0.1:8000/ws/v1/stream
    python -m streaming.client URL --channel transactions --chain 137 --min-swaps 3
    python -m streaming.client URL --json          # raw messages, one per line

It answers heartbeats with a ping (as the spec's example does) and stops on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import websockets


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if args.chain is not None:
        filters["chain_id"] = args.chain
    if args.min_profit is not None:
        filters["min_profit"] = args.min_profit
    if args.max_profit is not None:
        filters["max_profit"] = args.max_profit
    if args.min_swaps is not None:
        filters["min_swaps"] = args.min_swaps
    return filters


def _line(message: dict[str, Any]) -> str | None:
    kind = message.get("type")
    data = message.get("data") or {}
    if kind == "opportunity":
        return (
            f"{message['timestamp']}  opportunity  chain {data['chain_id']}  block {data['block_number']}  "
            f"{data['pool_name']} {data['pool_address']}  ${data['profit_usd']:,.2f}  "
            f"imbalance {data['imbalance_pct']}%"
        )
    if kind == "transaction":
        return (
            f"{message['timestamp']}  transaction  chain {data['chain_id']}  block {data['block_number']}  "
            f"{data['strategy']} {data['tx_hash']}  net ${data['profit_net_usd']:,.2f} "
            f"(gross ${data['profit_gross_usd']:,.2f}, gas ${data['gas_cost_usd']:,.4f})"
        )
    if kind in ("connected", "subscribed", "unsubscribed", "error"):
        return json.dumps(message)
    return None


async def run(args: argparse.Namespace) -> None:
    channels = ["opportunities", "transactions"] if args.channel == "all" else [args.channel]
    async with websockets.connect(args.url, max_size=2**20) as ws:
        for channel in channels:
            filters = _filters(args)
            if channel == "opportunities":
                filters.pop("min_swaps", None)
            await ws.send(json.dumps({"type": "subscribe", "channel": channel, "filters": filters}))
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "heartbeat":
                await ws.send(json.dumps({"type": "ping"}))
            text = raw if args.json else _line(message)
            if text:
                print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streaming.client", description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8000/ws/v1/stream")
    parser.add_argument("--channel", choices=["opportunities", "transactions", "all"], default="all")
    parser.add_argument("--chain", type=int, help="chain id filter")
    parser.add_argument("--min-profit", type=float, help="USD")
    parser.add_argument("--max-profit", type=float, help="USD")
    parser.add_argument("--min-swaps", type=int, help="transactions only")
    parser.add_argument("--json", action="store_true", help="print raw messages")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    except (OSError, websockets.WebSocketException) as exc:
        print(f"{args.url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
