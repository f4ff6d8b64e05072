"""Uniswap V3 event topics (computed with keccak) and decoders for plain logs.

A log is either a JSON-RPC log dict (``{"address", "topics", "data", ...}`` with
hex strings, as ``eth_getLogs`` returns it) or any object with ``address``,
``topics`` and ``data`` attributes (topics as hex strings or bytes, data as hex
or bytes). Decoders return frozen dataclasses of plain ints and checksummed
addresses; a log of another shape raises ``EventDecodeError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_utils import to_checksum_address

from evm.abis import EventDecodeError, event_topic

SWAP_SIGNATURE = "Swap(address,address,int256,int256,uint160,uint128,int24)"
MINT_SIGNATURE = "Mint(address,address,int24,int24,uint128,uint256,uint256)"
BURN_SIGNATURE = "Burn(address,int24,int24,uint128,uint256,uint256)"
INITIALIZE_SIGNATURE = "Initialize(uint160,int24)"
POOL_CREATED_SIGNATURE = "PoolCreated(address,address,uint24,int24,address)"

SWAP_TOPIC = event_topic(SWAP_SIGNATURE)
MINT_TOPIC = event_topic(MINT_SIGNATURE)
BURN_TOPIC = event_topic(BURN_SIGNATURE)
INITIALIZE_TOPIC = event_topic(INITIALIZE_SIGNATURE)
POOL_CREATED_TOPIC = event_topic(POOL_CREATED_SIGNATURE)


# ----- raw log access (shared with the PancakeSwap V3 and Algebra modules) -----------------------


@dataclass(frozen=True, slots=True)
class RawLog:
    """The three parts of a log the decoders need, normalised."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes


def _to_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    text = value[2:] if value.startswith(("0x", "0X")) else value
    return bytes.fromhex(text)


def raw_log(log: Mapping[str, Any] | Any) -> RawLog:
    """Normalise a JSON-RPC log dict or a log object (``address``, ``topics``, ``data``)."""
    if isinstance(log, RawLog):
        return log
    if isinstance(log, Mapping):
        address, topics, data = log.get("address", ""), log.get("topics", ()), log.get("data", b"")
    else:
        address, topics, data = getattr(log, "address", ""), log.topics, log.data
    return RawLog(
        address=to_checksum_address(address) if address else "",
        topics=tuple(_to_bytes(t) for t in topics),
        data=_to_bytes(data),
    )


def expect(log: RawLog, topic: str, indexed: int, words: int, what: str) -> list[int]:
    """Check topic0 and shape; return the data words as unsigned ints."""
    if not log.topics or "0x" + log.topics[0].hex() != topic:
        raise EventDecodeError(f"{what}: topic0 does not match")
    if len(log.topics) != indexed + 1:
        raise EventDecodeError(f"{what}: {len(log.topics) - 1} indexed topics, expected {indexed}")
    if len(log.data) != 32 * words:
        raise EventDecodeError(f"{what}: data has {len(log.data)} bytes, expected {32 * words}")
    return [int.from_bytes(log.data[i * 32 : (i + 1) * 32], "big") for i in range(words)]


def signed(word: int | bytes, bits: int = 256) -> int:
    """Two's-complement value of a word (int24 topics are sign-extended to 256 bits)."""
    value = int.from_bytes(word, "big") if isinstance(word, bytes) else word
    value &= (1 << 256) - 1
    return value - (1 << 256) if value >> 255 else value


def address_of(word: int | bytes) -> str:
    value = int.from_bytes(word, "big") if isinstance(word, bytes) else word
    return to_checksum_address(value.to_bytes(32, "big")[-20:])


def topic_of(log: Mapping[str, Any] | Any) -> str:
    """topic0 of a log as lowercase hex ('' when the log has no topics)."""
    topics = log.get("topics", ()) if isinstance(log, Mapping) else log.topics
    if not topics:
        return ""
    first = topics[0]
    return ("0x" + bytes(first).hex()) if not isinstance(first, str) else first.lower()


# ----- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SwapEvent:
    """Amounts are signed from the pool's side: positive = the pool received the token."""

    pool: str
    sender: str
    recipient: str
    amount0: int
    amount1: int
    sqrt_price_x96: int
    liquidity: int
    tick: int
    protocol_fees_token0: int = 0  # PancakeSwap V3 only
    protocol_fees_token1: int = 0


@dataclass(frozen=True, slots=True)
class MintEvent:
    pool: str
    sender: str
    owner: str
    tick_lower: int
    tick_upper: int
    amount: int  # liquidity
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class BurnEvent:
    pool: str
    owner: str
    tick_lower: int
    tick_upper: int
    amount: int  # liquidity
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class InitializeEvent:
    pool: str
    sqrt_price_x96: int
    tick: int


@dataclass(frozen=True, slots=True)
class PoolCreatedEvent:
    factory: str
    token0: str
    token1: str
    fee: int  # millionths; Algebra pools report 0 here (dynamic fee)
    tick_spacing: int
    pool: str


def decode_swap(log: Mapping[str, Any] | Any) -> SwapEvent:
    """``Swap(sender indexed, recipient indexed, amount0, amount1, sqrtPriceX96, liquidity, tick)``."""
    raw = raw_log(log)
    amount0, amount1, price, liquidity, tick = expect(raw, SWAP_TOPIC, 2, 5, "Swap")
    return SwapEvent(
        raw.address,
        address_of(raw.topics[1]),
        address_of(raw.topics[2]),
        signed(amount0),
        signed(amount1),
        price,
        liquidity,
        signed(tick),
    )


def decode_mint(log: Mapping[str, Any] | Any, topic: str = MINT_TOPIC) -> MintEvent:
    """``Mint(sender, owner indexed, tickLower indexed, tickUpper indexed, amount, amount0, amount1)``."""
    raw = raw_log(log)
    sender, amount, amount0, amount1 = expect(raw, topic, 3, 4, "Mint")
    return MintEvent(
        raw.address,
        address_of(sender),
        address_of(raw.topics[1]),
        signed(raw.topics[2]),
        signed(raw.topics[3]),
        amount,
        amount0,
        amount1,
    )


def decode_burn(log: Mapping[str, Any] | Any, topic: str = BURN_TOPIC) -> BurnEvent:
    """``Burn(owner indexed, tickLower indexed, tickUpper indexed, amount, amount0, amount1)``."""
    raw = raw_log(log)
    amount, amount0, amount1 = expect(raw, topic, 3, 3, "Burn")
    return BurnEvent(
        raw.address,
        address_of(raw.topics[1]),
        signed(raw.topics[2]),
        signed(raw.topics[3]),
        amount,
        amount0,
        amount1,
    )


def decode_initialize(log: Mapping[str, Any] | Any, topic: str = INITIALIZE_TOPIC) -> InitializeEvent:
    """``Initialize(sqrtPriceX96, tick)``."""
    raw = raw_log(log)
    price, tick = expect(raw, topic, 0, 2, "Initialize")
    return InitializeEvent(raw.address, price, signed(tick))


def decode_pool_created(log: Mapping[str, Any] | Any) -> PoolCreatedEvent:
    """Factory ``PoolCreated(token0 indexed, token1 indexed, fee indexed, tickSpacing, pool)``."""
    raw = raw_log(log)
    spacing, pool = expect(raw, POOL_CREATED_TOPIC, 3, 2, "PoolCreated")
    return PoolCreatedEvent(
        raw.address,
        address_of(raw.topics[1]),
        address_of(raw.topics[2]),
        int.from_bytes(raw.topics[3], "big"),
        signed(spacing),
        address_of(pool),
    )


PoolEvent = SwapEvent | MintEvent | BurnEvent | InitializeEvent
E = TypeVar("E")


def decode_by_topic(log: Mapping[str, Any] | Any, decoders: Mapping[str, Callable[[Any], E]]) -> E | None:
    """The decoder for the log's topic0 applied to it; None for a topic not in ``decoders``."""
    decoder = decoders.get(topic_of(log))
    return None if decoder is None else decoder(log)


def state_decoders(swap_topic: str, swap: Callable[[Any], SwapEvent]) -> dict[str, Callable[[Any], PoolEvent]]:
    """The decoders of the pool events that change swap state, with a family's own ``Swap``."""
    return {swap_topic: swap, MINT_TOPIC: decode_mint, BURN_TOPIC: decode_burn, INITIALIZE_TOPIC: decode_initialize}


STATE_DECODERS = state_decoders(SWAP_TOPIC, decode_swap)


def decode_pool_event(log: Mapping[str, Any] | Any) -> PoolEvent | None:
    """Decode any pool event that changes swap state; None for other topics (Collect, Flash, ...)."""
    return decode_by_topic(log, STATE_DECODERS)


# Fee (millionths) -> tick spacing enabled by UniswapV3Factory's constructor (100 -> 1 was
# enabled later by governance on most chains, including Polygon).
FEE_TICK_SPACINGS = {100: 1, 500: 10, 3000: 60, 10000: 200}
