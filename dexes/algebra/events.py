"""Algebra events: Uniswap's Swap/Mint/Burn/Initialize signatures (same topics), plus
``Pool`` (factory discovery), ``Fee`` (the dynamic fee changed) and ``TickSpacing``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dexes.uniswap_v3.events import (
    BURN_TOPIC,
    INITIALIZE_TOPIC,
    MINT_TOPIC,
    STATE_DECODERS,
    SWAP_TOPIC,
    BurnEvent,
    InitializeEvent,
    MintEvent,
    PoolCreatedEvent,
    SwapEvent,
    address_of,
    decode_burn,
    decode_by_topic,
    decode_initialize,
    decode_mint,
    decode_swap,
    expect,
    raw_log,
    signed,
)
from evm.abis import event_topic

POOL_SIGNATURE = "Pool(address,address,address)"
FEE_SIGNATURE = "Fee(uint16)"
TICK_SPACING_SIGNATURE = "TickSpacing(int24,int24)"
POOL_TOPIC = event_topic(POOL_SIGNATURE)
FEE_TOPIC = event_topic(FEE_SIGNATURE)
TICK_SPACING_TOPIC = event_topic(TICK_SPACING_SIGNATURE)

INITIAL_TICK_SPACING = 60
BASE_FEE = 100  # millionths: the fee a pool starts with

__all__ = [
    "BASE_FEE",
    "BURN_TOPIC",
    "FEE_TOPIC",
    "INITIALIZE_TOPIC",
    "INITIAL_TICK_SPACING",
    "MINT_TOPIC",
    "POOL_TOPIC",
    "SWAP_TOPIC",
    "TICK_SPACING_TOPIC",
    "FeeEvent",
    "TickSpacingEvent",
    "decode_burn",
    "decode_fee",
    "decode_initialize",
    "decode_mint",
    "decode_pool",
    "decode_pool_event",
    "decode_swap",
    "decode_tick_spacing",
]


@dataclass(frozen=True, slots=True)
class FeeEvent:
    pool: str
    fee: int  # millionths


@dataclass(frozen=True, slots=True)
class TickSpacingEvent:
    pool: str
    tick_spacing: int
    tick_spacing_limit_orders: int


def decode_pool(log: Mapping[str, Any] | Any) -> PoolCreatedEvent:
    """Factory ``Pool(token0 indexed, token1 indexed, pool)``; fee 0 (dynamic), spacing the initial 60."""
    raw = raw_log(log)
    (pool,) = expect(raw, POOL_TOPIC, 2, 1, "Pool")
    return PoolCreatedEvent(
        raw.address,
        address_of(raw.topics[1]),
        address_of(raw.topics[2]),
        0,
        INITIAL_TICK_SPACING,
        address_of(pool),
    )


def decode_fee(log: Mapping[str, Any] | Any) -> FeeEvent:
    raw = raw_log(log)
    (fee,) = expect(raw, FEE_TOPIC, 0, 1, "Fee")
    return FeeEvent(raw.address, fee)


def decode_tick_spacing(log: Mapping[str, Any] | Any) -> TickSpacingEvent:
    raw = raw_log(log)
    spacing, spacing_lo = expect(raw, TICK_SPACING_TOPIC, 0, 2, "TickSpacing")
    return TickSpacingEvent(raw.address, signed(spacing), signed(spacing_lo))


AlgebraPoolEvent = SwapEvent | MintEvent | BurnEvent | InitializeEvent | FeeEvent | TickSpacingEvent


_STATE_DECODERS: dict[str, Callable[[Any], AlgebraPoolEvent]] = {
    **STATE_DECODERS,
    FEE_TOPIC: decode_fee,
    TICK_SPACING_TOPIC: decode_tick_spacing,
}


def decode_pool_event(log: Mapping[str, Any] | Any) -> AlgebraPoolEvent | None:
    """Decode an Algebra pool event that changes swap state; None for other topics."""
    return decode_by_topic(log, _STATE_DECODERS)
