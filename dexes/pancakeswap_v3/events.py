"""PancakeSwap V3 events. Only ``Swap`` differs from Uniswap V3: it appends
``protocolFeesToken0`` and ``protocolFeesToken1`` (uint128), so its topic differs
too — filtering PancakeSwap pools by the Uniswap Swap topic finds nothing.
Mint, Burn, Initialize and the factory's PoolCreated have Uniswap's signatures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dexes.uniswap_v3.events import (
    BURN_TOPIC,
    INITIALIZE_TOPIC,
    MINT_TOPIC,
    POOL_CREATED_TOPIC,
    PoolEvent,
    SwapEvent,
    address_of,
    decode_burn,
    decode_by_topic,
    decode_initialize,
    decode_mint,
    decode_pool_created,
    expect,
    raw_log,
    signed,
    state_decoders,
)
from evm.abis import event_topic

SWAP_SIGNATURE = "Swap(address,address,int256,int256,uint160,uint128,int24,uint128,uint128)"
SWAP_TOPIC = event_topic(SWAP_SIGNATURE)

# Fee (millionths) -> tick spacing enabled by PancakeV3Factory's constructor.
FEE_TICK_SPACINGS = {100: 1, 500: 10, 2500: 50, 10000: 200}

__all__ = [
    "BURN_TOPIC",
    "FEE_TICK_SPACINGS",
    "INITIALIZE_TOPIC",
    "MINT_TOPIC",
    "POOL_CREATED_TOPIC",
    "SWAP_SIGNATURE",
    "SWAP_TOPIC",
    "decode_burn",
    "decode_initialize",
    "decode_mint",
    "decode_pool_created",
    "decode_pool_event",
    "decode_swap",
]


def decode_swap(log: Mapping[str, Any] | Any) -> SwapEvent:
    """PancakeSwap V3 ``Swap``: Uniswap's fields plus the protocol fees taken in this swap."""
    raw = raw_log(log)
    amount0, amount1, price, liquidity, tick, fees0, fees1 = expect(raw, SWAP_TOPIC, 2, 7, "PancakeSwap V3 Swap")
    return SwapEvent(
        raw.address,
        address_of(raw.topics[1]),
        address_of(raw.topics[2]),
        signed(amount0),
        signed(amount1),
        price,
        liquidity,
        signed(tick),
        fees0,
        fees1,
    )


# Uniswap's, with this Swap in place of Uniswap's (a Uniswap Swap log is not PancakeSwap's).
_STATE_DECODERS = state_decoders(SWAP_TOPIC, decode_swap)


def decode_pool_event(log: Mapping[str, Any] | Any) -> PoolEvent | None:
    """Decode a PancakeSwap V3 pool event that changes swap state; None for other topics."""
    return decode_by_topic(log, _STATE_DECODERS)
