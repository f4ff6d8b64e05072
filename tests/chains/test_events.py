"""Event topics and decoders (pure)."""

from __future__ import annotations

import pytest

from dexes.uniswap_v2.events import (
    PAIR_CREATED_TOPIC,
    SWAP_TOPIC,
    SYNC_TOPIC,
    TRANSFER_TOPIC,
    EventDecodeError,
    decode_pair_created,
    decode_swap,
    decode_sync,
    decode_transfer,
)
from evm.rpc import LogRecord

POOL = "0x0eD7e52944161450477ee417DE9Cd3a859b14fD0"
A = "0x" + "11" * 20
B = "0x" + "22" * 20


def _log(topics: list[str], data: bytes, address: str = POOL) -> LogRecord:
    return LogRecord(1, "0x" + "ab" * 32, "0x" + "cd" * 32, 0, 3, address, tuple(topics), data)


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _addr_topic(a: str) -> str:
    return "0x" + "00" * 12 + a[2:].lower()


def test_topics_match_chain_facts() -> None:
    # The published topic0 values (BscScan/Polygonscan); ours are computed with keccak.
    assert SYNC_TOPIC == "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
    assert SWAP_TOPIC == "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
    assert PAIR_CREATED_TOPIC == "0x0d3648bd0f6ba80134a33ba9275ac585d9d315f0ad8355cddefde31afa28d0e9"
    assert TRANSFER_TOPIC == "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def test_decode_sync_full_uint112() -> None:
    big = 2**112 - 1
    assert decode_sync(_log([SYNC_TOPIC], _word(big) + _word(7))) == (big, 7)


def test_decode_swap() -> None:
    data = _word(10) + _word(0) + _word(0) + _word(9)
    swap = decode_swap(_log([SWAP_TOPIC, _addr_topic(A), _addr_topic(B)], data))
    assert (swap.pool, swap.amount0_in, swap.amount1_in, swap.amount0_out, swap.amount1_out) == (POOL, 10, 0, 0, 9)
    assert swap.sender.lower() == A and swap.to.lower() == B
    assert swap.log_index == 3


def test_decode_pair_created() -> None:
    pair = "0x" + "33" * 20
    data = b"\0" * 12 + bytes.fromhex(pair[2:]) + _word(5)
    token0, token1, got_pair, index = decode_pair_created(
        _log([PAIR_CREATED_TOPIC, _addr_topic(A), _addr_topic(B)], data)
    )
    assert (token0.lower(), token1.lower(), got_pair.lower(), index) == (A, B, pair, 5)


def test_decode_transfer_rejects_erc721_shape() -> None:
    assert decode_transfer(_log([TRANSFER_TOPIC, _addr_topic(A), _addr_topic(B)], _word(5)))[2] == 5
    with pytest.raises(EventDecodeError):
        decode_transfer(_log([TRANSFER_TOPIC, _addr_topic(A), _addr_topic(B), "0x" + "00" * 32], b""))


@pytest.mark.parametrize(
    "log",
    [
        _log([SWAP_TOPIC], _word(1) + _word(2)),  # wrong event
        _log([SYNC_TOPIC], _word(1)),  # short data
        _log([SYNC_TOPIC, _addr_topic(A)], _word(1) + _word(2)),  # indexed where none is
    ],
)
def test_decode_sync_refuses_other_shapes(log: LogRecord) -> None:
    with pytest.raises(EventDecodeError):
        decode_sync(log)
