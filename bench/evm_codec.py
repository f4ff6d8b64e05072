"""Why evm/ keeps two decoders of its own instead of eth_abi's (docs/architecture.md records the figures).

* Multicall3 ``aggregate3`` results: ``evm.rpc.aggregate3_decode`` vs ``eth_abi.decode(["(bool,bytes)[]"])``
  on a 500-result reply of getReserves words (one ``multicall_chunk``);
* V2 ``Swap`` amounts: ``dexes.uniswap_v2.events.swap_amounts`` vs ``eth_abi.decode(["uint256"] * 4)``.

Also times ``aggregate3_encode`` (which does use eth_abi) for the same 500 calls. No Django, no node.

    python bench/evm_codec.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_abi import decode, encode

from dexes.uniswap_v2.events import SWAP_TOPIC, swap_amounts
from evm.rpc import Call, LogRecord, aggregate3_decode, aggregate3_encode


def _per_call_us(fn: Callable[[], object], repeat: int, inner: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - started) / inner * 1e6)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)

    words = [(True, (i * 7).to_bytes(32, "big") + (i * 11).to_bytes(32, "big") + (1700000000).to_bytes(32, "big"))
             for i in range(500)]  # fmt: skip
    reply = encode(["(bool,bytes)[]"], [words])
    assert aggregate3_decode(reply) == [(ok, data) for ok, data in decode(["(bool,bytes)[]"], reply)[0]]
    ours = _per_call_us(lambda: aggregate3_decode(reply), args.repeat, 5)
    theirs = _per_call_us(lambda: decode(["(bool,bytes)[]"], reply), args.repeat, 5)
    print(f"aggregate3 decode, 500 results: ours {ours:.0f} µs, eth_abi {theirs:.0f} µs ({theirs / ours:.1f}x)")

    data = b"".join(n.to_bytes(32, "big") for n in (10**18, 0, 0, 2 * 10**18))
    log = LogRecord(1, "0x" + "ab" * 32, "0x" + "cd" * 32, 0, 0, "0x" + "11" * 20,
                    (SWAP_TOPIC, "0x" + "00" * 32, "0x" + "00" * 32), data)  # fmt: skip
    assert swap_amounts(log) == decode(["uint256"] * 4, data)
    ours = _per_call_us(lambda: swap_amounts(log), args.repeat, 2000)
    theirs = _per_call_us(lambda: decode(["uint256"] * 4, data), args.repeat, 200)
    print(f"Swap amounts, one log: ours {ours:.2f} µs, eth_abi {theirs:.2f} µs ({theirs / ours:.1f}x)")

    calls = [Call("0x" + f"{i:040x}", bytes.fromhex("0902f1ac")) for i in range(1, 501)]
    encode_us = _per_call_us(lambda: aggregate3_encode(calls), args.repeat, 2)
    print(f"aggregate3 encode (eth_abi), 500 calls: {encode_us:.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
