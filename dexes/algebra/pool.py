"""Algebra pool state: Uniswap-style state plus the dynamic fee, walked tick to tick globally.

Differences from Uniswap V3 that change amounts, all reproduced here:

- the fee is a state field changed by ``Fee`` events (the pool recomputes it from
  its volatility oracle on the first swap/mint/burn of a block and emits ``Fee``
  *before* that swap's ``Swap``; apply logs in order and the fee is right);
  a simulation for the *next* block uses the last fee, which the first swap of
  that block may change (see ``AlgebraPoolState.swap``);
- V1.9 (``AlgebraPoolState``): ticks are not compressed by the spacing, and the swap
  steps from one initialized tick straight to the next (a linked list; MIN_TICK and
  MAX_TICK always present), never stopping at bitmap-word boundaries as Uniswap does,
  so rounding differs; V1 (``AlgebraV1PoolState``, QuickSwap V3) walks Uniswap's bitmap;
- limit orders (V1.9: a Mint with bottomTick == topTick) are not modelled: a pool
  that has one refuses to simulate (``UnsupportedPoolError``).

The step math itself (PriceMovementMath) equals Uniswap's SwapMath.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field

from dexes.algebra.events import BASE_FEE, INITIAL_TICK_SPACING, FeeEvent, TickSpacingEvent
from dexes.uniswap_v3.events import BurnEvent, MintEvent
from dexes.uniswap_v3.pool import SwapResult, SwapRevertError, V3PoolState
from dexes.uniswap_v3.tick_math import MAX_TICK, MIN_TICK


class UnsupportedPoolError(SwapRevertError):
    """The pool uses a feature this model does not reproduce (Algebra limit orders)."""


@dataclass(slots=True)
class AlgebraPoolState(V3PoolState):
    """Algebra pool: ``fee`` is the current dynamic fee (millionths), updated by ``Fee`` events."""

    fee: int = BASE_FEE
    tick_spacing: int = INITIAL_TICK_SPACING
    sorted_ticks: list[int] = field(default_factory=list)
    has_limit_orders: bool = False

    @classmethod
    def uninitialized(cls, *, fee: int = BASE_FEE, tick_spacing: int = INITIAL_TICK_SPACING) -> AlgebraPoolState:
        return cls(sqrt_price_x96=0, tick=0, liquidity=0, fee=fee, tick_spacing=tick_spacing)

    def copy(self) -> V3PoolState:
        clone = V3PoolState.copy(self)
        assert isinstance(clone, AlgebraPoolState)
        clone.sorted_ticks = list(self.sorted_ticks)
        return clone

    def apply_event(self, event: object) -> bool:
        if isinstance(event, FeeEvent):
            self.fee = event.fee
            return True
        if isinstance(event, TickSpacingEvent):
            self.tick_spacing = event.tick_spacing
            return True
        if isinstance(event, MintEvent | BurnEvent) and event.tick_lower == event.tick_upper:
            self.has_limit_orders = True  # a limit order (V1.9): stays flagged, never modelled
            return True
        return V3PoolState.apply_event(self, event)

    def _flip(self, tick: int) -> None:
        # Algebra keeps raw (uncompressed) ticks; spacing is checked on mint by the pool itself.
        index = bisect_left(self.sorted_ticks, tick)
        if index < len(self.sorted_ticks) and self.sorted_ticks[index] == tick:
            del self.sorted_ticks[index]
        else:
            insort(self.sorted_ticks, tick)

    def next_initialized_tick(self, tick: int, lte: bool) -> tuple[int, bool]:
        """The nearest initialized tick ≤ ``tick`` (down) or > ``tick`` (up), with MIN/MAX_TICK as ends."""
        ticks = self.sorted_ticks
        if lte:
            index = bisect_right(ticks, tick)
            return (ticks[index - 1], True) if index else (MIN_TICK, True)
        index = bisect_right(ticks, tick)
        return (ticks[index], True) if index < len(ticks) else (MAX_TICK, True)

    def swap(self, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None = None) -> SwapResult:
        """As ``V3PoolState.swap`` with the current fee. Raises ``UnsupportedPoolError`` with limit orders."""
        if self.has_limit_orders:
            raise UnsupportedPoolError("Algebra limit orders are not modelled")
        return V3PoolState.swap(self, zero_for_one, amount_specified, sqrt_price_limit_x96)


@dataclass(slots=True)
class AlgebraV1PoolState(AlgebraPoolState):
    """Algebra V1 (``@cryptoalgebra/core`` 2.0.0; what QuickSwap V3 on Polygon runs).

    Same events, dynamic fee and step math as V1.9, but V1's TickTable is Uniswap's bitmap:
    ticks compressed by the fixed spacing 60, and the walk stops at every 256-spacing
    word boundary (which changes rounding). No limit orders exist in V1. Modelled from V1's
    TickTable/PriceMovementMath sources; not yet checked on chain (see the package docstring).
    """

    def _flip(self, tick: int) -> None:
        V3PoolState._flip(self, tick)

    def next_initialized_tick(self, tick: int, lte: bool) -> tuple[int, bool]:
        return V3PoolState.next_initialized_tick(self, tick, lte)
