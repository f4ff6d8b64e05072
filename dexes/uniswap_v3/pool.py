"""Uniswap-V3-style pool state kept from events, and exact swap simulation over it.

``V3PoolState`` holds what a swap reads: the price, the tick, the in-range
liquidity, the fee, and each initialized tick's liquidityNet with the tick
bitmap the contract searches. ``swap`` walks the ticks exactly like
``UniswapV3Pool.swap`` (same steps, including the stops at bitmap-word
boundaries, which change rounding), so its amounts equal the chain's to the wei.
It never mutates the state; ``apply_swap`` takes the chain's own result from a
``Swap`` event. Fee growth, oracles and protocol fees do not affect amounts and
are not modelled. PancakeSwap V3 pools run the same code and use this class.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from dexes.uniswap_v3.events import BurnEvent, InitializeEvent, MintEvent, SwapEvent
from dexes.uniswap_v3.full_math import MathOverflowError, add_delta, to_int256
from dexes.uniswap_v3.swap_math import compute_swap_step
from dexes.uniswap_v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)


def bitmap_word_positions(tick: int, tick_spacing: int, ticks_each_side: int) -> range:
    """``tickBitmap`` word indexes covering ``tick`` ± ``ticks_each_side`` (what a loader reads with Multicall3)."""
    low = (max(MIN_TICK, tick - ticks_each_side) // tick_spacing) >> 8
    high = (min(MAX_TICK, tick + ticks_each_side) // tick_spacing) >> 8
    return range(low, high + 1)


def ticks_in_bitmap_word(word_pos: int, bits: int, tick_spacing: int) -> list[int]:
    """The initialized ticks a ``tickBitmap(word_pos)`` value marks (then read each with ``ticks(i)``)."""
    ticks = []
    while bits:
        low_bit = bits & -bits
        ticks.append(((word_pos << 8) + low_bit.bit_length() - 1) * tick_spacing)
        bits ^= low_bit
    return ticks


class SwapRevertError(ValueError):
    """The pool contract would revert this swap (zero amount, bad price limit, math overflow)."""


@dataclass(slots=True)
class TickInfo:
    """An initialized tick: total liquidity referencing it, and the liquidity change when crossed upward."""

    liquidity_gross: int
    liquidity_net: int


@dataclass(frozen=True, slots=True)
class SwapResult:
    """A simulated swap, signed from the pool's side like the ``Swap`` event (positive = pool receives)."""

    amount0: int
    amount1: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks_crossed: int  # initialized ticks crossed
    steps: int  # computeSwapStep calls (what the gas and the run time scale with)

    def amount_in(self, zero_for_one: bool) -> int:
        return self.amount0 if zero_for_one else self.amount1

    def amount_out(self, zero_for_one: bool) -> int:
        return -(self.amount1 if zero_for_one else self.amount0)


@dataclass(slots=True)
class V3PoolState:
    """State of one Uniswap-V3-style pool. ``fee`` in millionths (500 = 0.05 %)."""

    sqrt_price_x96: int
    tick: int
    liquidity: int
    fee: int
    tick_spacing: int
    ticks: dict[int, TickInfo] = field(default_factory=dict)
    tick_bitmap: dict[int, int] = field(default_factory=dict)
    # Bumped by every change of ``ticks`` (Mint, Burn): lets search code keep what it derived from them across Swaps.
    ticks_version: int = field(default=0, compare=False, repr=False)

    # ----- construction -------------------------------------------------------------------------

    @classmethod
    def uninitialized(cls, *, fee: int, tick_spacing: int) -> V3PoolState:
        """A pool just created by the factory (``PoolCreated``), before ``Initialize``."""
        return cls(sqrt_price_x96=0, tick=0, liquidity=0, fee=fee, tick_spacing=tick_spacing)

    @classmethod
    def from_chain(
        cls,
        *,
        sqrt_price_x96: int,
        tick: int,
        liquidity: int,
        fee: int,
        tick_spacing: int,
        ticks: dict[int, tuple[int, int]],
    ) -> V3PoolState:
        """Build from values read on chain: slot0, liquidity, and ``{tick: (liquidityGross, liquidityNet)}``.

        The bitmap is derived from the ticks, so only ``ticks(i)`` of initialized ticks need reading.
        """
        state = cls(sqrt_price_x96=sqrt_price_x96, tick=tick, liquidity=liquidity, fee=fee, tick_spacing=tick_spacing)
        for index, (gross, net) in ticks.items():
            if gross:
                state.ticks[index] = TickInfo(gross, net)
                state._flip(index)
        return state

    def copy(self) -> V3PoolState:
        """An independent copy: the containers and each tick copied (a deep copy costs ~10× more)."""
        clone = copy.copy(self)
        clone.ticks = {index: TickInfo(info.liquidity_gross, info.liquidity_net) for index, info in self.ticks.items()}
        clone.tick_bitmap = dict(self.tick_bitmap)
        return clone

    @property
    def initialized(self) -> bool:
        return self.sqrt_price_x96 != 0

    # ----- events ---------------------------------------------------------------------------------

    def apply_initialize(self, sqrt_price_x96: int, tick: int) -> None:
        self.sqrt_price_x96 = sqrt_price_x96
        self.tick = tick

    def apply_swap(self, sqrt_price_x96: int, liquidity: int, tick: int) -> None:
        """A ``Swap`` event carries the pool's new price, in-range liquidity and tick."""
        self.sqrt_price_x96 = sqrt_price_x96
        self.liquidity = liquidity
        self.tick = tick

    def apply_mint(self, tick_lower: int, tick_upper: int, amount: int) -> None:
        """A ``Mint`` adds ``amount`` liquidity on [tick_lower, tick_upper)."""
        self._modify_position(tick_lower, tick_upper, amount)

    def apply_burn(self, tick_lower: int, tick_upper: int, amount: int) -> None:
        """A ``Burn`` removes ``amount`` liquidity (0 only collects fees and changes nothing here)."""
        self._modify_position(tick_lower, tick_upper, -amount)

    def apply_event(self, event: object) -> bool:
        """Apply a decoded pool event (Swap, Mint, Burn, Initialize); False for events that change nothing."""
        if isinstance(event, SwapEvent):
            self.apply_swap(event.sqrt_price_x96, event.liquidity, event.tick)
        elif isinstance(event, MintEvent):
            self.apply_mint(event.tick_lower, event.tick_upper, event.amount)
        elif isinstance(event, BurnEvent):
            self.apply_burn(event.tick_lower, event.tick_upper, event.amount)
        elif isinstance(event, InitializeEvent):
            self.apply_initialize(event.sqrt_price_x96, event.tick)
        else:
            return False
        return True

    def _modify_position(self, tick_lower: int, tick_upper: int, delta: int) -> None:
        if not (MIN_TICK <= tick_lower < tick_upper <= MAX_TICK):
            raise ValueError(f"invalid tick range [{tick_lower}, {tick_upper})")
        if delta == 0:
            return
        self._update_tick(tick_lower, delta, upper=False)
        self._update_tick(tick_upper, delta, upper=True)
        if tick_lower <= self.tick < tick_upper:
            self.liquidity = add_delta(self.liquidity, delta)

    def _update_tick(self, tick: int, delta: int, *, upper: bool) -> None:
        self.ticks_version += 1
        info = self.ticks.get(tick)
        gross_before = info.liquidity_gross if info else 0
        gross_after = add_delta(gross_before, delta)
        if info is None:
            info = self.ticks[tick] = TickInfo(0, 0)
        info.liquidity_gross = gross_after
        info.liquidity_net += -delta if upper else delta
        if (gross_before == 0) != (gross_after == 0):
            self._flip(tick)
        if gross_after == 0:
            del self.ticks[tick]

    # ----- tick search (family specific) -----------------------------------------------------------

    def _flip(self, tick: int) -> None:
        if tick % self.tick_spacing:
            raise ValueError(f"tick {tick} is not a multiple of the spacing {self.tick_spacing}")
        compressed = tick // self.tick_spacing
        word = compressed >> 8
        bits = self.tick_bitmap.get(word, 0) ^ (1 << (compressed & 0xFF))
        if bits:
            self.tick_bitmap[word] = bits
        else:
            self.tick_bitmap.pop(word, None)

    def next_initialized_tick(self, tick: int, lte: bool) -> tuple[int, bool]:
        """TickBitmap.nextInitializedTickWithinOneWord: the next tick to step to, and whether it is initialized."""
        spacing = self.tick_spacing
        compressed = tick // spacing
        if lte:
            bit_pos = compressed & 0xFF
            masked = self.tick_bitmap.get(compressed >> 8, 0) & ((2 << bit_pos) - 1)
            if masked:
                return (compressed - bit_pos + masked.bit_length() - 1) * spacing, True
            return (compressed - bit_pos) * spacing, False
        compressed += 1
        bit_pos = compressed & 0xFF
        masked = self.tick_bitmap.get(compressed >> 8, 0) >> bit_pos
        if masked:
            return (compressed + (masked & -masked).bit_length() - 1) * spacing, True
        return (compressed + 255 - bit_pos) * spacing, False

    # ----- simulation ------------------------------------------------------------------------------

    def swap(self, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None = None) -> SwapResult:
        """Simulate ``pool.swap``: ``amount_specified`` > 0 is exact input, < 0 exact output.

        ``sqrt_price_limit_x96=None`` means no limit (MIN_SQRT_RATIO + 1 / MAX_SQRT_RATIO − 1,
        as the periphery passes). Raises ``SwapRevertError`` where the contract reverts.
        The state is not changed.
        """
        if amount_specified == 0:
            raise SwapRevertError("AS: amount is zero")
        if not self.initialized:
            raise SwapRevertError("pool not initialized")
        price = self.sqrt_price_x96
        if sqrt_price_limit_x96 is None:
            sqrt_price_limit_x96 = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
        if zero_for_one:
            if not (MIN_SQRT_RATIO < sqrt_price_limit_x96 < price):
                raise SwapRevertError("SPL: price limit not below the price")
        elif not (price < sqrt_price_limit_x96 < MAX_SQRT_RATIO):
            raise SwapRevertError("SPL: price limit not above the price")
        try:
            return self._swap_loop(zero_for_one, amount_specified, sqrt_price_limit_x96)
        except MathOverflowError as exc:
            raise SwapRevertError(str(exc)) from exc

    def _swap_loop(self, zero_for_one: bool, amount_specified: int, limit: int) -> SwapResult:
        exact_input = amount_specified > 0
        remaining = amount_specified
        calculated = 0
        price = self.sqrt_price_x96
        tick = self.tick
        liquidity = self.liquidity
        fee = self.fee
        crossed = steps = 0
        ticks = self.ticks
        while remaining != 0 and price != limit:
            start_price = price
            tick_next, initialized = self.next_initialized_tick(tick, zero_for_one)
            if tick_next < MIN_TICK:
                tick_next = MIN_TICK
            elif tick_next > MAX_TICK:
                tick_next = MAX_TICK
            next_price = get_sqrt_ratio_at_tick(tick_next)
            if zero_for_one:
                target = limit if next_price < limit else next_price
            else:
                target = limit if next_price > limit else next_price
            price, step_in, step_out, step_fee = compute_swap_step(price, target, liquidity, remaining, fee)
            steps += 1
            if exact_input:
                remaining -= to_int256(step_in + step_fee)
                calculated -= to_int256(step_out)
            else:
                remaining += to_int256(step_out)
                calculated += to_int256(step_in + step_fee)
            if price == next_price:
                if initialized:
                    net = ticks[tick_next].liquidity_net if tick_next in ticks else 0
                    liquidity = add_delta(liquidity, -net if zero_for_one else net)
                    crossed += 1
                tick = tick_next - 1 if zero_for_one else tick_next
            elif price != start_price:
                tick = get_tick_at_sqrt_ratio(price)
        if zero_for_one == exact_input:
            amount0, amount1 = amount_specified - remaining, calculated
        else:
            amount0, amount1 = calculated, amount_specified - remaining
        return SwapResult(amount0, amount1, price, tick, liquidity, crossed, steps)

    # ----- conveniences for search code ----------------------------------------------------------------

    def amount_out(self, zero_for_one: bool, amount_in: int) -> int:
        """Output of an exact-input swap with no price limit (0 for a zero input)."""
        if amount_in == 0:
            return 0
        return self.swap(zero_for_one, amount_in).amount_out(zero_for_one)

    def amount_in(self, zero_for_one: bool, amount_out: int) -> int:
        """Input needed for an exact-output swap; raises if the pool cannot deliver ``amount_out``."""
        result = self.swap(zero_for_one, -amount_out)
        if result.amount_out(zero_for_one) != amount_out:
            raise SwapRevertError(f"pool cannot deliver {amount_out} (liquidity exhausted)")
        return result.amount_in(zero_for_one)
