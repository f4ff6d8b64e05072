"""Uniswap-V2-style and ERC-20 event topics and decoders (pure: no I/O).

Topics are computed with keccak here, never copied; tests compare them with the
published topic0 values (BscScan/Polygonscan).
"""

from __future__ import annotations

from dataclasses import dataclass

from evm.abis import EventDecodeError, event_topic
from evm.rpc import LogRecord, checksum_address

SYNC_SIGNATURE = "Sync(uint112,uint112)"
SWAP_SIGNATURE = "Swap(address,uint256,uint256,uint256,uint256,address)"
PAIR_CREATED_SIGNATURE = "PairCreated(address,address,address,uint256)"
TRANSFER_SIGNATURE = "Transfer(address,address,uint256)"

SYNC_TOPIC = event_topic(SYNC_SIGNATURE)
SWAP_TOPIC = event_topic(SWAP_SIGNATURE)
PAIR_CREATED_TOPIC = event_topic(PAIR_CREATED_SIGNATURE)
TRANSFER_TOPIC = event_topic(TRANSFER_SIGNATURE)


@dataclass(frozen=True, slots=True)
class SwapEvent:
    pool: str
    sender: str
    to: str
    amount0_in: int
    amount1_in: int
    amount0_out: int
    amount1_out: int
    block_number: int
    block_hash: str
    tx_hash: str
    tx_index: int
    log_index: int


def _words(data: bytes, count: int, what: str) -> list[int]:
    if len(data) < 32 * count:
        raise EventDecodeError(f"{what}: data has {len(data)} bytes, expected {32 * count}")
    return [int.from_bytes(data[i * 32 : (i + 1) * 32], "big") for i in range(count)]


def _topic_address(topic: str) -> str:
    return checksum_address("0x" + topic[-40:].lower())


def _word_address(word: int) -> str:
    return checksum_address("0x" + word.to_bytes(32, "big")[-20:].hex())


def _expect(log: LogRecord, topic: str, indexed: int, what: str) -> None:
    if not log.topics or log.topics[0] != topic:
        raise EventDecodeError(f"{what}: log {log.tx_hash}#{log.log_index} has topic0 {log.topic0}")
    if len(log.topics) != indexed + 1:
        raise EventDecodeError(f"{what}: log {log.tx_hash}#{log.log_index} has {len(log.topics) - 1} indexed topics")


def decode_sync(log: LogRecord) -> tuple[int, int]:
    """(reserve0, reserve1) of a V2 ``Sync`` log."""
    _expect(log, SYNC_TOPIC, 0, "Sync")
    reserve0, reserve1 = _words(log.data, 2, "Sync")
    return reserve0, reserve1


def swap_amounts(log: LogRecord) -> tuple[int, int, int, int] | None:
    """(amount0In, amount1In, amount0Out, amount1Out) of a V2 ``Swap`` log; None if it has another shape.

    The hot path of the transaction monitor: no checksumming (sender and to stay raw topics).
    """
    data = log.data
    if len(log.topics) != 3 or log.topics[0] != SWAP_TOPIC or len(data) < 128:
        return None
    return (
        int.from_bytes(data[0:32], "big"),
        int.from_bytes(data[32:64], "big"),
        int.from_bytes(data[64:96], "big"),
        int.from_bytes(data[96:128], "big"),
    )


def decode_swap(log: LogRecord) -> SwapEvent:
    """A V2 ``Swap(sender indexed, amount0In, amount1In, amount0Out, amount1Out, to indexed)``."""
    _expect(log, SWAP_TOPIC, 2, "Swap")
    amounts = swap_amounts(log)
    if amounts is None:
        raise EventDecodeError(f"Swap: data has {len(log.data)} bytes, expected 128")
    a0_in, a1_in, a0_out, a1_out = amounts
    return SwapEvent(
        pool=log.address,
        sender=_topic_address(log.topics[1]),
        to=_topic_address(log.topics[2]),
        amount0_in=a0_in,
        amount1_in=a1_in,
        amount0_out=a0_out,
        amount1_out=a1_out,
        block_number=log.block_number,
        block_hash=log.block_hash,
        tx_hash=log.tx_hash,
        tx_index=log.tx_index,
        log_index=log.log_index,
    )


def decode_pair_created(log: LogRecord) -> tuple[str, str, str, int]:
    """(token0, token1, pair, index) of a V2 factory ``PairCreated`` log (index = allPairs.length after)."""
    _expect(log, PAIR_CREATED_TOPIC, 2, "PairCreated")
    pair_word, index = _words(log.data, 2, "PairCreated")
    return _topic_address(log.topics[1]), _topic_address(log.topics[2]), _word_address(pair_word), index


def decode_transfer(log: LogRecord) -> tuple[str, str, int]:
    """(from, to, value) of an ERC-20 ``Transfer`` (not ERC-721: that one has 3 indexed topics)."""
    _expect(log, TRANSFER_TOPIC, 2, "Transfer")
    (value,) = _words(log.data, 1, "Transfer")
    return _topic_address(log.topics[1]), _topic_address(log.topics[2]), value
