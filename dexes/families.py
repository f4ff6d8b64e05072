"""The DEX families ArbMonitor knows, and for each concentrated-liquidity family its events and state.

A family is a protocol (its contracts' code), not a brand: PancakeSwap V2, Biswap and
QuickSwap V2 are all ``uniswap_v2``. A pool's ``venue`` is its family's name; hops of a
cycle carry it so a reader (and an executor) knows which swap interface each hop uses.

Pure: no Django, no I/O. ``ClFamily`` bundles, per family, the factory's creation event
(``PoolCreated`` or Algebra's ``Pool``), the decoder of the pool events that change swap
state (each family's own ``Swap`` topic; Algebra's ``Fee``), the state class, and how the
initialized ticks are found on chain (``bitmap``: ``tickBitmap``/``tickTable`` words
around the price, Uniswap style; ``linked``: Algebra V1.9's ``ticks(i).nextTick`` list).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dexes.algebra import events as algebra_events
from dexes.algebra.pool import AlgebraPoolState, AlgebraV1PoolState
from dexes.pancakeswap_v3 import events as pancake_events
from dexes.uniswap_v3 import events as uniswap_events
from dexes.uniswap_v3.events import PoolCreatedEvent
from dexes.uniswap_v3.pool import V3PoolState

UNISWAP_V2 = "uniswap_v2"
UNISWAP_V3 = "uniswap_v3"
PANCAKESWAP_V3 = "pancakeswap_v3"
ALGEBRA = "algebra"  # Algebra V1.9 (@cryptoalgebra/core 3.0.0): the devnet's
ALGEBRA_V1 = "algebra_v1"  # Algebra V1 (QuickSwap V3 on Polygon)

FAMILY_CHOICES = (
    (UNISWAP_V2, "Uniswap V2 style (constant product)"),
    (UNISWAP_V3, "Uniswap V3"),
    (PANCAKESWAP_V3, "PancakeSwap V3"),
    (ALGEBRA, "Algebra V1.9"),
    (ALGEBRA_V1, "Algebra V1 (QuickSwap V3)"),
)


@dataclass(frozen=True, slots=True)
class ClFamily:
    """What the scanners need of one concentrated-liquidity family."""

    name: str
    creation_topic: str
    decode_creation: Callable[[Any], PoolCreatedEvent]
    event_topics: tuple[str, ...]  # pool events that change swap state
    decode_event: Callable[[Any], object | None]
    state_class: type[V3PoolState]
    tick_search: str  # "bitmap" (tickBitmap / tickTable words) or "linked" (ticks(i).nextTick)
    slot_selector: str  # "slot0()" or "globalState()"
    fee_word: int | None  # word of the slot getter holding the current fee (Algebra's dynamic fee), else None
    bitmap_selector: str = "tickBitmap(int16)"

    def new_state(self, *, fee: int, tick_spacing: int) -> V3PoolState:
        """The state of a pool just created by the factory (before Initialize)."""
        return self.state_class(sqrt_price_x96=0, tick=0, liquidity=0, fee=fee, tick_spacing=tick_spacing)


_UNISWAP_TOPICS = (
    uniswap_events.SWAP_TOPIC,
    uniswap_events.MINT_TOPIC,
    uniswap_events.BURN_TOPIC,
    uniswap_events.INITIALIZE_TOPIC,
)

CL_FAMILIES: dict[str, ClFamily] = {
    UNISWAP_V3: ClFamily(
        UNISWAP_V3,
        uniswap_events.POOL_CREATED_TOPIC,
        uniswap_events.decode_pool_created,
        _UNISWAP_TOPICS,
        uniswap_events.decode_pool_event,
        V3PoolState,
        "bitmap",
        "slot0()",
        None,
    ),
    PANCAKESWAP_V3: ClFamily(
        PANCAKESWAP_V3,
        uniswap_events.POOL_CREATED_TOPIC,
        uniswap_events.decode_pool_created,
        (pancake_events.SWAP_TOPIC, *_UNISWAP_TOPICS[1:]),
        pancake_events.decode_pool_event,
        V3PoolState,
        "bitmap",
        "slot0()",
        None,
    ),
    ALGEBRA: ClFamily(
        ALGEBRA,
        algebra_events.POOL_TOPIC,
        algebra_events.decode_pool,
        (*_UNISWAP_TOPICS, algebra_events.FEE_TOPIC, algebra_events.TICK_SPACING_TOPIC),
        algebra_events.decode_pool_event,
        AlgebraPoolState,
        "linked",
        "globalState()",
        3,  # (price, tick, prevInitializedTick, fee, ...)
    ),
    ALGEBRA_V1: ClFamily(
        ALGEBRA_V1,
        algebra_events.POOL_TOPIC,
        algebra_events.decode_pool,
        (*_UNISWAP_TOPICS, algebra_events.FEE_TOPIC),
        algebra_events.decode_pool_event,
        AlgebraV1PoolState,
        "bitmap",
        "globalState()",
        2,  # (price, tick, fee, timepointIndex, ...)
        "tickTable(int16)",
    ),
}


def cl_topics() -> list[str]:
    """Every topic a scanner asks for to keep concentrated-liquidity pools (creation and state events)."""
    topics: dict[str, None] = {}
    for family in CL_FAMILIES.values():
        topics[family.creation_topic] = None
        topics.update(dict.fromkeys(family.event_topics))
    return list(topics)
