"""Arbitrage cycles over Uniswap-V2-style pools: closed-form optimum, exact refinement, graph scan.

A chain of constant-product swaps with fees composes to ``out = K·x / (M + N·x)``.
We keep K, M, N as exact integers (every fee factor scaled by 10000), so the
profitability test ``K > M`` and the optimum ``x* = (√(K·M) − M) / N`` involve no
floats. The reported input is then refined against the contracts' integer
rounding, hop by hop, so amounts and profit are what a transaction would get.

``PoolGraph`` indexes tracked pools so a scan costs per *changed* pool, not per
tracked pool. It uses a float log-rate sum only as a pre-filter with a wide
safety margin; every decision that reaches a result is exact.
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import isqrt

from dexes.families import UNISWAP_V2
from dexes.uniswap_v2.swap_math import FEE_DENOMINATOR, get_amount_out
from dexes.uniswap_v3.pool import V3PoolState
from opportunities.v3cycles import (
    FloatOptimum,
    Leg,
    TickProfile,
    V2Leg,
    V3Curve,
    V3Leg,
    best_mixed_input,
    float_optimum,
)

# Refinement: enumerate every integer input that could still beat the best one
# found when there are at most this many. Beyond that — pools deep enough that the
# profit curve is flat for thousands of wei around x* — only a window around x* is
# searched, and the result is within the hops' rounding (a few raw units) of the
# optimum. Below the limit the search is exact; dust pools, whose rounding can move
# the optimum hundreds of units away from x*, always fall below it.
EXACT_ENUMERATION_LIMIT = 4096
APPROXIMATE_WINDOW = 4
# Float pre-filter margin on the sum of log marginal rates. Float error on a
# 4-hop sum is ~1e-15; 1e-9 guarantees no profitable cycle is filtered out.
LOG_RATE_MARGIN = 1e-9
# Ranking uses the real-valued optimum computed in floats (relative error ~1e-15);
# a candidate is skipped only when even this inflated estimate cannot win.
ESTIMATE_MARGIN = 1e-6


@dataclass(frozen=True, slots=True)
class Hop:
    """One swap direction through one pool, with that pool's reserves at scan time.

    ``venue`` is the pool's protocol family (``dexes.families``); for a concentrated-liquidity
    hop the reserves are the in-range virtual reserves (display and pricing only: its amounts
    come from the tick-by-tick simulation) and ``fee_bps`` is 0.
    """

    pool: str
    token_in: str
    token_out: str
    reserve_in: int
    reserve_out: int
    fee_bps: int
    venue: str = UNISWAP_V2

    def __post_init__(self) -> None:
        if self.reserve_in <= 0 or self.reserve_out <= 0:
            raise ValueError(f"hop {self.pool}: reserves must be positive")
        if not 0 <= self.fee_bps < FEE_DENOMINATOR:
            raise ValueError(f"hop {self.pool}: fee_bps out of range: {self.fee_bps}")
        if self.token_in == self.token_out:
            raise ValueError(f"hop {self.pool}: token_in == token_out")


@dataclass(frozen=True, slots=True)
class Cycle:
    """Hops where each output feeds the next input and the last returns to the first token."""

    hops: tuple[Hop, ...]

    def __post_init__(self) -> None:
        if len(self.hops) < 2:
            raise ValueError("a cycle needs at least 2 hops")
        for previous, following in zip(self.hops, self.hops[1:] + self.hops[:1], strict=True):
            if previous.token_out != following.token_in:
                raise ValueError(f"cycle broken between {previous.pool} and {following.pool}")

    @property
    def start_token(self) -> str:
        return self.hops[0].token_in

    @property
    def pools(self) -> tuple[str, ...]:
        return tuple(hop.pool for hop in self.hops)

    @property
    def tokens(self) -> tuple[str, ...]:
        """Tokens visited, start token at both ends."""
        return (self.hops[0].token_in, *(hop.token_out for hop in self.hops))

    @property
    def venues(self) -> tuple[str, ...]:
        """Each hop's protocol family, in swap order."""
        return tuple(hop.venue for hop in self.hops)


@dataclass(frozen=True, slots=True)
class CycleResult:
    """Best integer input of a cycle and what it yields, all in raw units of the start token."""

    cycle: Cycle
    amount_in: int
    amount_out: int
    profit: int


def simulate_cycle(cycle: Cycle, amount_in: int) -> int:
    """Apply ``get_amount_out`` hop by hop: the output of trading ``amount_in`` around the cycle."""
    amount = amount_in
    for hop in cycle.hops:
        amount = get_amount_out(amount, hop.reserve_in, hop.reserve_out, hop.fee_bps)
    return amount


def cycle_composition(cycle: Cycle) -> tuple[int, int, int]:
    """Exact integers (K, M, N) with ``out(x) = K·x / (M + N·x)`` for the real-valued cycle."""
    return _compose([(h.reserve_in, h.reserve_out, FEE_DENOMINATOR - h.fee_bps) for h in cycle.hops])


def _compose(raw_hops: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    reserve_in, reserve_out, gamma = raw_hops[0]
    k = gamma * reserve_out
    m = reserve_in * FEE_DENOMINATOR
    n = gamma
    for reserve_in, reserve_out, gamma in raw_hops[1:]:
        scaled_in = reserve_in * FEE_DENOMINATOR
        k, m, n = k * gamma * reserve_out, m * scaled_in, n * scaled_in + gamma * k
    return k, m, n


def _simulate_raw(raw_hops: list[tuple[int, int, int]], amount: int) -> int:
    # Same formula as get_amount_out, without per-call validation (hops are validated once).
    for reserve_in, reserve_out, gamma in raw_hops:
        with_fee = amount * gamma
        amount = (with_fee * reserve_out) // (reserve_in * FEE_DENOMINATOR + with_fee)
    return amount


def profit_upper_bound(k: int, m: int, n: int) -> int:
    """An integer no integer-rounded profit can exceed: ⌊(√K − √M)² / N⌋, rounded safely up."""
    if k <= m:
        return 0
    return (k + m - 2 * isqrt(k * m)) // n


def best_cycle_input(cycle: Cycle) -> CycleResult | None:
    """The integer input maximising profit under the contracts' rounding, or None if none profits.

    Exact (equal to brute force over all inputs) whenever the candidate interval
    has at most ``EXACT_ENUMERATION_LIMIT`` integers; otherwise within the
    rounding error of the continuous optimum (a few raw units).
    """
    raw_hops = [(h.reserve_in, h.reserve_out, FEE_DENOMINATOR - h.fee_bps) for h in cycle.hops]
    found = _best_input_raw(raw_hops)
    if found is None:
        return None
    amount_in, amount_out = found
    return CycleResult(cycle=cycle, amount_in=amount_in, amount_out=amount_out, profit=amount_out - amount_in)


def _best_input_raw(
    raw_hops: list[tuple[int, int, int]], composition: tuple[int, int, int] | None = None
) -> tuple[int, int] | None:
    k, m, n = composition if composition is not None else _compose(raw_hops)
    if k <= m:
        return None
    root = isqrt(k * m)
    if (k + m - 2 * root) // n <= 0:
        return None
    x_star = max(1, (root - m) // n)
    best_in, best_out, best_profit = 0, 0, 0
    for x in (x_star, x_star + 1):
        out = _simulate_raw(raw_hops, x)
        if out - x > best_profit:
            best_in, best_out, best_profit = x, out, out - x
    # Integer profit never exceeds the real one p(x) = Kx/(M+Nx) − x. Inputs that
    # could beat best_profit satisfy p(x) ≥ T, i.e. N·x² + (M + N·T − K)·x + M·T ≤ 0.
    target = best_profit + 1
    b = m + n * target - k
    discriminant = b * b - 4 * n * m * target
    if discriminant >= 0:
        s = isqrt(discriminant)
        low = max(1, -((b + s + 1) // (2 * n)))  # ceil((−b − s − 1) / 2N), widened for isqrt
        high = (-b + s + 1) // (2 * n)
        if high - low + 1 > EXACT_ENUMERATION_LIMIT:
            low = max(low, x_star - APPROXIMATE_WINDOW)
            high = min(high, x_star + APPROXIMATE_WINDOW)
        for x in range(low, high + 1):
            out = _simulate_raw(raw_hops, x)
            if out - x > best_profit or (out - x == best_profit and best_profit > 0 and x < best_in):
                best_in, best_out, best_profit = x, out, out - x
    if best_profit <= 0:
        return None
    return best_in, best_out


# --------------------------------------------------------------------------- graph


@dataclass(frozen=True, slots=True)
class Pool:
    """A tracked pool: a V2 pair and its reserves (raw units), or a V3-style pool and its ``state``.

    For a V3-style pool ``reserve0``/``reserve1`` are the in-range virtual reserves
    (``L / √P``, ``L · √P``: same mid price and local depth) and ``fee_bps`` is 0.
    """

    address: str
    dex: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int
    fee_bps: int
    state: V3PoolState | None = None
    venue: str = UNISWAP_V2
    window: tuple[int, int] | None = None  # V3: the tick range whose initialized ticks the state holds (None: all)


def virtual_reserves(state: V3PoolState) -> tuple[int, int]:
    """In-range virtual reserves of a V3-style pool (0, 0 before Initialize)."""
    if not state.sqrt_price_x96:
        return 0, 0
    return (state.liquidity << 96) // state.sqrt_price_x96, (state.liquidity * state.sqrt_price_x96) >> 96


# A directed use of a pool: (address, zero_for_one). A path is a tuple of them.
_Step = tuple[str, bool]


@dataclass(slots=True)
class PoolGraph:
    """Index over tracked pools for incremental cycle search.

    Precomputed: pools per unordered token pair, neighbours per token, and each
    pool's log marginal rate per direction. Cycles considered for a changed pool:

    * 2-hop: the pool and any other pool of the same pair, both directions;
    * 3-hop: triangles with at least two base tokens among their three tokens
      (token/base/base or base/base/base), both directions.

    A cycle is started from each of its tokens that has a value in
    ``token_value`` (any common unit per raw unit, e.g. USD per wei from
    ``chains.pricing``); without values, from its highest-priority base token
    (order of ``base_tokens``), else its first token.
    """

    base_tokens: tuple[str, ...]
    _pools: dict[str, Pool] = field(default_factory=dict)
    _log_rates: dict[str, tuple[float, float]] = field(default_factory=dict)
    _float_reserves: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    _pair_pools: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _neighbours: dict[str, set[str]] = field(default_factory=dict)
    _base_rank: dict[str, int] = field(default_factory=dict)
    _curves: dict[str, V3Curve] = field(default_factory=dict)  # float models of V3 pools, built on first use
    _profiles: dict[str, tuple[V3PoolState, int, TickProfile]] = field(default_factory=dict)  # (state, ticks version)
    # Per path at the current reserves and states (cleared by any change): its best integer (input, output), and
    # its float optimum (mixed paths). A block's scan and the scanner's 2-hop alternatives share them.
    _found: dict[tuple[_Step, ...], tuple[int, int] | None] = field(default_factory=dict)
    _float_optima: dict[tuple[_Step, ...], FloatOptimum | None] = field(default_factory=dict)
    _bound_hops: dict[_Step, tuple[float, float, float]] = field(default_factory=dict)  # per step, until it changes

    def __post_init__(self) -> None:
        self.base_tokens = tuple(self.base_tokens)
        self._base_rank = {token: rank for rank, token in enumerate(self.base_tokens)}

    @classmethod
    def from_pools(cls, pools: Iterable[Pool], base_tokens: Iterable[str]) -> PoolGraph:
        graph = cls(base_tokens=tuple(base_tokens))
        for pool in pools:
            graph.add_pool(pool)
        return graph

    # ---- maintenance

    def add_pool(self, pool: Pool) -> None:
        if pool.token0 == pool.token1:
            raise ValueError(f"pool {pool.address}: token0 == token1")
        if pool.address in self._pools:
            raise ValueError(f"pool {pool.address} already tracked")
        if not 0 <= pool.fee_bps < FEE_DENOMINATOR:
            raise ValueError(f"pool {pool.address}: fee_bps out of range")
        self._pools[pool.address] = pool
        self._pair_pools.setdefault(_pair_key(pool.token0, pool.token1), []).append(pool.address)
        self._neighbours.setdefault(pool.token0, set()).add(pool.token1)
        self._neighbours.setdefault(pool.token1, set()).add(pool.token0)
        self._refresh_rates(pool)
        self._forget_results()

    def update_reserves(self, address: str, reserve0: int, reserve1: int) -> None:
        """Apply a Sync: O(1)."""
        pool = replace(self._pools[address], reserve0=reserve0, reserve1=reserve1)
        self._pools[address] = pool
        self._refresh_rates(pool)
        self._forget_results()

    def update_fee(self, address: str, fee_bps: int) -> None:
        """A pool's fee changed (per-pair fees read again): O(1)."""
        if not 0 <= fee_bps < FEE_DENOMINATOR:
            raise ValueError(f"pool {address}: fee_bps out of range")
        pool = replace(self._pools[address], fee_bps=fee_bps)
        self._pools[address] = pool
        self._refresh_rates(pool)
        self._forget_results()

    def update_state(self, address: str, state: V3PoolState) -> None:
        """A V3-style pool's new state (after its block's events): O(1); its float model is rebuilt on use."""
        reserve0, reserve1 = virtual_reserves(state)
        pool = replace(self._pools[address], reserve0=reserve0, reserve1=reserve1, state=state)
        self._pools[address] = pool
        self._curves.pop(address, None)
        self._refresh_rates(pool)
        self._forget_results()

    def _forget_results(self) -> None:
        if self._found or self._float_optima:
            self._found.clear()
            self._float_optima.clear()

    def _refresh_rates(self, pool: Pool) -> None:
        self._bound_hops.pop((pool.address, True), None)
        self._bound_hops.pop((pool.address, False), None)
        if pool.state is not None:
            state = pool.state
            if not state.sqrt_price_x96 or (not state.liquidity and not state.ticks):
                self._log_rates[pool.address] = (-math.inf, -math.inf)
                return
            log_fee = math.log1p(-state.fee / 1e6)
            log_price = 2 * (math.log(state.sqrt_price_x96) - 96 * math.log(2))
            self._log_rates[pool.address] = (log_fee + log_price, log_fee - log_price)
            return
        if pool.reserve0 <= 0 or pool.reserve1 <= 0:
            # An empty pool cannot be traded through; -inf keeps it out of every cycle.
            self._log_rates[pool.address] = (-math.inf, -math.inf)
            return
        gamma = (FEE_DENOMINATOR - pool.fee_bps) / FEE_DENOMINATOR
        self._float_reserves[pool.address] = (float(pool.reserve0), float(pool.reserve1), gamma)
        log_fee = math.log(gamma)
        log_ratio = math.log(pool.reserve1) - math.log(pool.reserve0)
        self._log_rates[pool.address] = (log_fee + log_ratio, log_fee - log_ratio)

    # ---- reads

    def __len__(self) -> int:
        return len(self._pools)

    def __contains__(self, address: object) -> bool:
        return address in self._pools

    def pool(self, address: str) -> Pool:
        return self._pools[address]

    def pools_of_pair(self, token_a: str, token_b: str) -> tuple[Pool, ...]:
        return tuple(self._pools[a] for a in self._pair_pools.get(_pair_key(token_a, token_b), ()))

    # ---- cycle enumeration

    def cycle_paths(self, address: str) -> list[tuple[_Step, ...]]:
        """Every considered cycle through a pool, as (pool, zero_for_one) steps starting with it."""
        pool = self._pools[address]
        token_a, token_b = pool.token0, pool.token1
        pair_pools = self._pair_pools
        paths: list[tuple[_Step, ...]] = []
        for other in pair_pools[_pair_key(token_a, token_b)]:
            if other != address:
                other_zero_for_one = self._pools[other].token0 == token_b
                paths.append(((address, True), (other, other_zero_for_one)))
                paths.append(((address, False), (other, not other_zero_for_one)))
        for token_c in self._third_tokens(token_a, token_b):
            pools_bc = pair_pools.get(_pair_key(token_b, token_c))
            pools_ca = pair_pools.get(_pair_key(token_c, token_a))
            if not pools_bc or not pools_ca:
                continue
            for bc in pools_bc:
                bc_forward = self._pools[bc].token0 == token_b
                for ca in pools_ca:
                    ca_forward = self._pools[ca].token0 == token_c
                    paths.append(((address, True), (bc, bc_forward), (ca, ca_forward)))
                    paths.append(((address, False), (ca, not ca_forward), (bc, not bc_forward)))
        return paths

    def _third_tokens(self, token_a: str, token_b: str) -> Iterable[str]:
        a_is_base = token_a in self._base_rank
        b_is_base = token_b in self._base_rank
        if a_is_base and b_is_base:
            neighbours_a = self._neighbours.get(token_a, set())
            neighbours_b = self._neighbours.get(token_b, set())
            return neighbours_a & neighbours_b
        if a_is_base or b_is_base:
            other = token_b if a_is_base else token_a
            neighbours_other = self._neighbours.get(other, set())
            return [c for c in self.base_tokens if c not in (token_a, token_b) and c in neighbours_other]
        return ()

    def path_cycle(self, path: Iterable[_Step]) -> Cycle:
        """Materialise a path as a ``Cycle`` with current reserves."""
        hops = []
        for address, zero_for_one in path:
            p = self._pools[address]
            # A V3 pool out of range has no virtual reserves; 1 keeps the hop valid (they are display only).
            r0, r1 = (p.reserve0, p.reserve1) if p.state is None else (max(p.reserve0, 1), max(p.reserve1, 1))
            if zero_for_one:
                hops.append(Hop(p.address, p.token0, p.token1, r0, r1, p.fee_bps, p.venue))
            else:
                hops.append(Hop(p.address, p.token1, p.token0, r1, r0, p.fee_bps, p.venue))
        return Cycle(tuple(hops))

    def is_mixed(self, path: Iterable[_Step]) -> bool:
        """True when a hop of the path is a V3-style pool."""
        pools = self._pools
        return any(pools[address].state is not None for address, _ in path)

    def _curve(self, pool: Pool) -> V3Curve:
        curve = self._curves.get(pool.address)
        if curve is None:
            state = pool.state
            assert state is not None
            # The tick profile outlives Swaps (the same state object, its ticks unchanged); a Mint or Burn renews it.
            kept = self._profiles.get(pool.address)
            if kept is None or kept[0] is not state or kept[1] != state.ticks_version:
                kept = self._profiles[pool.address] = (state, state.ticks_version, TickProfile(state.ticks))
            curve = self._curves[pool.address] = V3Curve(state, pool.window, kept[2])
        return curve

    def _mixed_bound(self, path: tuple[_Step, ...]) -> float:
        """``mixed_profit_bound`` of the path's legs (``constant_product_bound`` of each step's bounding curve,
        cached per step until its pool changes; no legs built)."""
        bound_hops = self._bound_hops
        k, m, n = 1.0, 1.0, 0.0
        for step in path:
            hop = bound_hops.get(step)
            if hop is None:
                address, zero_for_one = step
                p = self._pools[address]
                if p.state is not None:
                    curve = self._curve(p)
                    hop = (1 - curve.fee, *curve.bounding_reserves(zero_for_one))
                else:
                    reserve0, reserve1, gamma = self._float_reserves[address]
                    hop = (gamma, reserve0, reserve1) if zero_for_one else (gamma, reserve1, reserve0)
                bound_hops[step] = hop
            gamma, r_in, r_out = hop
            if r_in <= 0:
                return 0.0
            k, m, n = k * gamma * r_out, m * r_in, n * r_in + gamma * k
        if k <= m or n <= 0:
            return 0.0
        return (math.sqrt(k) - math.sqrt(m)) ** 2 / n

    def _float_optimum(self, path: tuple[_Step, ...]) -> FloatOptimum | None:
        if path not in self._float_optima:
            self._float_optima[path] = float_optimum(self._legs(path))
        return self._float_optima[path]

    def _legs(self, path: tuple[_Step, ...]) -> list[Leg]:
        legs: list[Leg] = []
        for address, zero_for_one in path:
            p = self._pools[address]
            if p.state is not None:
                curve = self._curve(p)
                legs.append(V3Leg(p.state, zero_for_one, curve, curve.limit(zero_for_one)))
            else:
                gamma = FEE_DENOMINATOR - p.fee_bps
                r_in, r_out = (p.reserve0, p.reserve1) if zero_for_one else (p.reserve1, p.reserve0)
                legs.append(V2Leg(r_in, r_out, gamma))
        return legs

    def best_input(self, path: tuple[_Step, ...]) -> tuple[int, int] | None:
        """(amount in, amount out) of a path's best input under the contracts' integer math, or None."""
        if any(self._log_rates[address][0] == -math.inf for address, _ in path):
            return None  # through an empty pair or a V3-style pool with no price or liquidity
        if path not in self._found:
            if self.is_mixed(path):
                self._found[path] = best_mixed_input(self._legs(path), self._float_optimum(path))
            else:
                self._found[path] = _best_input_raw(self._raw_hops(path))
        return self._found[path]

    def result(self, path: tuple[_Step, ...]) -> CycleResult | None:
        found = self.best_input(path)
        if found is None:
            return None
        amount_in, amount_out = found
        return CycleResult(self.path_cycle(path), amount_in, amount_out, amount_out - amount_in)

    def path_start(self, path: tuple[_Step, ...]) -> str:
        """The token a path starts (and ends) with."""
        return self._token_in(path[0])

    def profit_bound(self, path: tuple[_Step, ...]) -> float:
        """A real number no integer input's profit through the path exceeds, in its start token's raw units
        (float, with the ranking's margin): for pruning candidates without simulating them."""
        log_rates = self._log_rates
        if any(log_rates[address][0] == -math.inf for address, _ in path):
            return 0.0  # through an empty pair or a V3-style pool with no price or liquidity: no result
        if self.is_mixed(path):
            return self._mixed_bound(path) * (1 + ESTIMATE_MARGIN)
        k = m = n = 0.0
        for position, (address, zero_for_one) in enumerate(path):
            reserve0, reserve1, gamma = self._float_reserves[address]
            r_in, r_out = (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)
            if position == 0:
                k, m, n = gamma * r_out, r_in, gamma
            else:
                k, m, n = k * gamma * r_out, m * r_in, n * r_in + gamma * k
        return (math.sqrt(k) - math.sqrt(m)) ** 2 / n * (1 + ESTIMATE_MARGIN) if k > m else 0.0

    def _token_in(self, step: _Step) -> str:
        pool = self._pools[step[0]]
        return pool.token0 if step[1] else pool.token1

    def _raw_hops(self, path: tuple[_Step, ...]) -> list[tuple[int, int, int]]:
        raw = []
        for address, zero_for_one in path:
            p = self._pools[address]
            gamma = FEE_DENOMINATOR - p.fee_bps
            raw.append((p.reserve0, p.reserve1, gamma) if zero_for_one else (p.reserve1, p.reserve0, gamma))
        return raw

    # ---- scan

    def scan(
        self,
        changed: Iterable[str],
        *,
        token_value: Mapping[str, float] | None = None,
    ) -> dict[str, CycleResult]:
        """Best profitable cycle through each changed pool, with its optimal integer input.

        Cost is O(Σ cycles through changed pools): a float log-rate filter drops
        cycles that cannot profit, survivors are ranked by their real-valued
        optimum, and only the best few are refined exactly (branch and bound:
        stop when no remaining estimate can beat the best exact profit).
        Refinements shared by several changed pools are computed once.

        Ranking: profit × value of the start token when ``token_value`` prices
        it; cycles from unpriced start tokens rank below priced ones, by
        base-token priority then profit.
        """
        log_rates = self._log_rates
        float_reserves = self._float_reserves
        memo = self._found
        mixed_paths: set[tuple[_Step, ...]] = set()
        results: dict[str, CycleResult] = {}
        for address in dict.fromkeys(changed):
            if address not in self._pools:
                continue
            candidates: list[tuple[tuple, tuple[_Step, ...]]] = []
            for path in self.cycle_paths(address):
                log_sum = 0.0
                for pool_address, zero_for_one in path:
                    log_sum += log_rates[pool_address][0 if zero_for_one else 1]
                if log_sum <= -LOG_RATE_MARGIN:
                    continue
                mixed = self.is_mixed(path)
                for rotated in self._rotations(path, token_value):
                    if mixed:
                        # Ranked by an upper bound (V3 hops at their marginal rate); searched only if reached.
                        bound = self._mixed_bound(rotated)
                        if bound <= 0:
                            continue
                        start = self._token_in(rotated[0])
                        candidates.append((self._rank(start, bound * (1 + ESTIMATE_MARGIN), token_value), rotated))
                        mixed_paths.add(rotated)
                        continue
                    k = m = n = 0.0
                    for position, (pool_address, zero_for_one) in enumerate(rotated):
                        reserve0, reserve1, gamma = float_reserves[pool_address]
                        r_in, r_out = (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)
                        if position == 0:
                            k, m, n = gamma * r_out, r_in, gamma
                        else:
                            k, m, n = k * gamma * r_out, m * r_in, n * r_in + gamma * k
                    estimate = (math.sqrt(k) - math.sqrt(m)) ** 2 / n if k > m else 0.0
                    start = self._token_in(rotated[0])
                    candidates.append((self._rank(start, estimate * (1 + ESTIMATE_MARGIN), token_value), rotated))
            # Best first; a mixed cycle enters with its upper bound, is searched in floats when it comes up,
            # and re-enters with that optimum (a tighter estimate) before its integer simulation.
            candidates.sort(key=_first)
            searched: dict[tuple[_Step, ...], FloatOptimum | None] = {}
            best: tuple[tuple, tuple[_Step, ...], tuple[int, int]] | None = None
            while candidates:
                estimate_rank, rotated = candidates.pop()
                if best is not None and estimate_rank <= best[0]:
                    break
                if rotated in memo:
                    found = memo[rotated]
                elif rotated in mixed_paths:
                    if rotated not in searched:
                        optimum = searched[rotated] = self._float_optimum(rotated)
                        if optimum is not None and optimum.profit > 0:
                            start = self._token_in(rotated[0])
                            rank = self._rank(start, optimum.profit * (1 + ESTIMATE_MARGIN), token_value)
                            insort(candidates, (rank, rotated), key=_first)
                        continue
                    found = memo[rotated] = best_mixed_input(self._legs(rotated), searched[rotated])
                else:
                    found = memo[rotated] = _best_input_raw(self._raw_hops(rotated))
                if found is None:
                    continue
                amount_in, amount_out = found
                rank = self._rank(self._token_in(rotated[0]), amount_out - amount_in, token_value)
                if best is None or rank > best[0]:
                    best = (rank, rotated, found)
            if best is not None:
                _, rotated, (amount_in, amount_out) = best
                results[address] = CycleResult(
                    cycle=self.path_cycle(rotated),
                    amount_in=amount_in,
                    amount_out=amount_out,
                    profit=amount_out - amount_in,
                )
        return results

    def _rotations(self, path: tuple[_Step, ...], token_value: Mapping[str, float] | None) -> list[tuple[_Step, ...]]:
        pools = self._pools
        starts = [pools[address].token0 if zero_for_one else pools[address].token1 for address, zero_for_one in path]
        if token_value is not None:
            chosen = [i for i, token in enumerate(starts) if token_value.get(token, 0) > 0]
            if chosen:
                return [path[i:] + path[:i] for i in chosen]
        ranked = min(range(len(starts)), key=lambda i: (self._base_rank.get(starts[i], len(self._base_rank)), i))
        return [path[ranked:] + path[:ranked]]

    def _rank(self, start: str, profit: float, token_value: Mapping[str, float] | None) -> tuple:
        if token_value is not None:
            value = token_value.get(start, 0)
            if value > 0:
                return (1, profit * value)
        return (0, -self._base_rank.get(start, len(self._base_rank)), profit)


def _first(item: tuple) -> tuple:
    return item[0]


def _pair_key(token_a: str, token_b: str) -> tuple[str, str]:
    return (token_a, token_b) if token_a < token_b else (token_b, token_a)


# --------------------------------------------------------------------------- imbalance


def imbalance_pct(address: str, graph: PoolGraph) -> float | None:
    """Signed deviation, in percent, of a pool's mid price from the rest of the market.

    Price = token1 per token0 (raw units, so decimals cancel). Positive means
    token0 is dearer on this pool than the reference. Reference: the mean mid
    price of the other pools of the same pair weighted by their token1 reserve
    (liquidity in the quote); without such pools, the price implied through one
    base token C (token0→C→token1) using, for each leg, the pool deepest in C,
    and the C with the deepest thinner leg. None when neither exists.
    """
    pool = graph.pool(address)
    if pool.reserve0 <= 0 or pool.reserve1 <= 0:
        return None
    own = Fraction(pool.reserve1, pool.reserve0)
    others = [
        p
        for p in graph.pools_of_pair(pool.token0, pool.token1)
        if p.address != address and p.reserve0 > 0 and p.reserve1 > 0
    ]
    reference: Fraction | None = None
    if others:
        # Σ w·(r1/r0) / Σ w with w = the quote-side reserve r1 of each pool.
        oriented = [(p.reserve0, p.reserve1) if p.token0 == pool.token0 else (p.reserve1, p.reserve0) for p in others]
        weight = sum(r1 for _, r1 in oriented)
        reference = sum((Fraction(r1 * r1, r0) for r0, r1 in oriented), Fraction(0)) / weight
    else:
        best_depth = 0
        for token_c in graph.base_tokens:
            if token_c in (pool.token0, pool.token1):
                continue
            leg_in = _deepest_in(graph.pools_of_pair(pool.token0, token_c), token_c)
            leg_out = _deepest_in(graph.pools_of_pair(token_c, pool.token1), token_c)
            if leg_in is None or leg_out is None:
                continue
            (reserve_c_in, reserve_0), (reserve_c_out, reserve_1) = leg_in, leg_out
            depth = min(reserve_c_in, reserve_c_out)
            if depth > best_depth:
                best_depth = depth
                # token1 per token0 = (C per token0) · (token1 per C)
                reference = Fraction(reserve_c_in, reserve_0) * Fraction(reserve_1, reserve_c_out)
    if reference is None:
        return None
    return float((own / reference - 1) * 100)


def _deepest_in(pools: Iterable[Pool], token: str) -> tuple[int, int] | None:
    """(reserve of ``token``, reserve of the other token) of the pool deepest in ``token``."""
    best: tuple[int, int] | None = None
    for p in pools:
        if p.reserve0 <= 0 or p.reserve1 <= 0:
            continue
        pair = (p.reserve0, p.reserve1) if p.token0 == token else (p.reserve1, p.reserve0)
        if best is None or pair[0] > best[0]:
            best = pair
    return best
