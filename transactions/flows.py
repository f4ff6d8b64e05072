"""Executed arbitrage from a transaction's own token flows. Pure: plain values in, plain values out.

What the arbitrageur gained is measured, not inferred from swap amounts: the net
of every token moving into and out of the *searcher* (the transaction's sender
and the contract it called, or the sender alone when that contract is a router
or aggregator working for it: ``searchers_of``) — ERC-20 ``Transfer`` logs, the wrapped native
token's ``Deposit``/``Withdrawal``, and native coin moved by calls when a call
trace is available (native is counted as the wrapped native token). That is
EigenPhi's definition of revenue. What the searcher paid the block's fee
recipient is a builder payment, not part of the gross.

Swaps (V2 ``Swap`` of any V2 family, Uniswap V3, PancakeSwap V3 and Algebra
``Swap``, amounts read from the pool's side) are linked into cycles by token
*and address* continuity: hop i feeds hop j when i's output token is j's input
token and j's pool is i's recipient, or is reachable from i's recipient through
transfers of that token in the same transaction (a searcher contract holding
tokens between hops, an aggregator forwarding them, a fee-on-transfer token
skimming on the way). No amount tolerance: tax tokens and a bot that keeps part
of a hop's output are handled by the transfers actually made.

Decisions:

* A cycle closes at the first return to its start token; a pool appears once
  per cycle (a swap and its reverse on one pool is a wash, not an arbitrage).
* Several cycles per transaction: candidates are chosen greedily, preferring
  cycles whose internal links carry the exact amount (a searcher holding
  tokens between hops of two cycles makes several pairings possible; the
  amounts tell them apart where the chain is exact), then cycles not
  interleaved with other swaps in log order, then shorter, then earlier, so
  each swap belongs to at most one cycle.
* The start of a cycle (its economic order) is the pool the transaction
  touched first (its first Transfer in or out, else its Swap): swaps run one
  after the other. A flash swap logs its first pool's Swap last and is still
  started there.
* Losing cycles are kept (``profitable`` False). A transaction is an arbitrage
  when it closes at least one cycle; its ``outcome`` is ``profit`` when every
  per-token gain is >= 0 (one > 0), ``loss`` when every one is <= 0, else
  ``mixed`` (decided in USD where every token is priced).
* Bounded: links cost O(n²) for n swaps (capped at ``max_hops_total``); the
  search expands at most ``max_expansions`` partial paths of ``max_hops``.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from eth_utils import to_checksum_address

from dexes.pancakeswap_v3.events import SWAP_TOPIC as PANCAKE_V3_SWAP_TOPIC
from dexes.uniswap_v2.events import SWAP_TOPIC as V2_SWAP_TOPIC
from dexes.uniswap_v2.events import TRANSFER_TOPIC
from dexes.uniswap_v3.events import SWAP_TOPIC as V3_SWAP_TOPIC
from evm.abis import event_topic

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
NATIVE = "native"  # the token key of native coin moved by calls
DEPOSIT_TOPIC = event_topic("Deposit(address,uint256)")
WITHDRAWAL_TOPIC = event_topic("Withdrawal(address,uint256)")
SWAP_TOPICS = (V2_SWAP_TOPIC, V3_SWAP_TOPIC, PANCAKE_V3_SWAP_TOPIC)
# The protocol family a Swap topic belongs to (Algebra pools emit Uniswap V3's topic:
# the monitor tells them apart by probing the pool).
FAMILY_OF_TOPIC = {V2_SWAP_TOPIC: "uniswap_v2", V3_SWAP_TOPIC: "uniswap_v3", PANCAKE_V3_SWAP_TOPIC: "pancakeswap_v3"}

DEFAULT_MAX_HOPS = 8
DEFAULT_MAX_SWAPS = 256
DEFAULT_MAX_EXPANSIONS = 50_000


@dataclass(frozen=True, slots=True)
class Hop:
    """One swap, from the pool's side: what it took in, what it paid out, to whom."""

    log_index: int
    pool: str
    venue: str  # protocol family: uniswap_v2, uniswap_v3, pancakeswap_v3, algebra
    token_in: str
    amount_in: int
    token_out: str
    amount_out: int
    recipient: str


@dataclass(frozen=True, slots=True)
class TokenMove:
    """An amount of ``token`` moved from ``sender`` to ``recipient`` (a Transfer, a wrap, a native call value)."""

    log_index: int
    token: str
    sender: str
    recipient: str
    amount: int


@dataclass(frozen=True, slots=True)
class Cycle:
    """A closed cycle of hops in economic order; amounts in raw units of the start token, from the pools' side."""

    hops: tuple[Hop, ...]

    @property
    def start_token(self) -> str:
        return self.hops[0].token_in

    @property
    def start_amount(self) -> int:
        return self.hops[0].amount_in

    @property
    def end_amount(self) -> int:
        return self.hops[-1].amount_out

    @property
    def profit(self) -> int:
        return self.end_amount - self.start_amount

    @property
    def profitable(self) -> bool:
        return self.profit > 0

    @property
    def pools(self) -> tuple[str, ...]:
        return tuple(h.pool for h in self.hops)

    @property
    def tokens(self) -> tuple[str, ...]:
        return (self.start_token, *(h.token_out for h in self.hops))

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(h.venue for h in self.hops)

    @property
    def swap_count(self) -> int:
        return len(self.hops)

    @property
    def strategy(self) -> str:
        return f"{len(self.hops)}-hop"


@dataclass(frozen=True, slots=True)
class TxArbitrage:
    """The arbitrage in one transaction: its cycles and what the searcher actually gained and paid."""

    cycles: tuple[Cycle, ...]
    searchers: tuple[str, ...]
    gains: Mapping[str, int]  # token -> net raw amount into the searcher (non-zero only); native as wrapped
    builder_payments: Mapping[str, int] = field(default_factory=dict)  # token -> raw paid to the fee recipient
    native_measured: bool = False  # a call trace was read: native moves (and native builder payments) are known

    @property
    def native_builder_payment(self) -> int | None:
        """Native coin paid to the fee recipient; None when not measured (no trace)."""
        return self.builder_payments.get(NATIVE, 0) if self.native_measured else None

    @property
    def outcome(self) -> str:
        values = list(self.gains.values())
        if values and all(v >= 0 for v in values):
            return "profit"
        if all(v <= 0 for v in values):
            return "loss"
        return "mixed"


# ---------------------------------------------------------------------- decoding (plain logs)


def _word(data: bytes, i: int) -> int:
    return int.from_bytes(data[32 * i : 32 * (i + 1)], "big")


def _signed(value: int) -> int:
    return value - (1 << 256) if value >> 255 else value


def _topic_address(topic: str) -> str:
    return to_checksum_address("0x" + topic[-40:])


def hop_from_log(log: Any, *, token0: str, token1: str, venue: str | None = None) -> Hop | None:
    """A Swap log (V2, Uniswap V3 / Algebra, PancakeSwap V3) as a hop; None without a direction or of another shape.

    ``log`` has ``topics`` (hex strings), ``data`` (bytes), ``address`` and ``log_index``.
    """
    topics = log.topics
    if not topics or len(topics) != 3:
        return None
    topic0, data = topics[0], log.data
    family = FAMILY_OF_TOPIC.get(topic0)
    if family is None:
        return None
    if topic0 == V2_SWAP_TOPIC:
        if len(data) < 128:
            return None
        net0 = _word(data, 0) - _word(data, 2)  # amount0In - amount0Out
        net1 = _word(data, 1) - _word(data, 3)
    else:
        if len(data) < 160:
            return None
        net0, net1 = _signed(_word(data, 0)), _signed(_word(data, 1))  # pool's side: + received
    if net0 > 0 > net1:
        token_in, amount_in, token_out, amount_out = token0, net0, token1, -net1
    elif net1 > 0 > net0:
        token_in, amount_in, token_out, amount_out = token1, net1, token0, -net0
    else:
        return None  # both in, both out or nothing: a flash loan repaid in kind, a donation
    return Hop(
        log.log_index,
        log.address,
        venue or family,
        token_in,
        amount_in,
        token_out,
        amount_out,
        _topic_address(topics[2]),
    )


def moves_from_logs(logs: Iterable[Any], *, wrapped_native: str | None) -> list[TokenMove]:
    """ERC-20 Transfers, and the wrapped native token's Deposit (contract → dst) / Withdrawal (src → contract)."""
    moves: list[TokenMove] = []
    for log in logs:
        topics = log.topics
        if not topics:
            continue
        topic0 = topics[0]
        if topic0 == TRANSFER_TOPIC and len(topics) == 3 and len(log.data) == 32:  # ERC-721 has 4 topics
            moves.append(
                TokenMove(
                    log.log_index, log.address, _topic_address(topics[1]), _topic_address(topics[2]), _word(log.data, 0)
                )
            )
        elif wrapped_native and log.address == wrapped_native and len(topics) == 2 and len(log.data) == 32:
            who = _topic_address(topics[1])
            if topic0 == DEPOSIT_TOPIC:
                moves.append(TokenMove(log.log_index, wrapped_native, wrapped_native, who, _word(log.data, 0)))
            elif topic0 == WITHDRAWAL_TOPIC:
                moves.append(TokenMove(log.log_index, wrapped_native, who, wrapped_native, _word(log.data, 0)))
    return moves


def native_moves_from_trace(trace: Mapping[str, Any]) -> list[TokenMove]:
    """Native coin moved by calls (``callTracer`` frames with value), as moves of the token ``NATIVE``.

    A frame that reverted moved nothing, nor did its children; DELEGATECALL and
    STATICCALL move no value of their own. ``log_index`` is -1 (calls have none).
    """
    moves: list[TokenMove] = []
    stack = [trace]
    while stack:
        frame = stack.pop()
        if frame.get("error"):
            continue
        kind = str(frame.get("type", "CALL")).upper()
        value = int(frame.get("value") or "0x0", 16)
        if value and kind in ("CALL", "CREATE", "CREATE2", "SELFDESTRUCT") and frame.get("to"):
            moves.append(
                TokenMove(
                    -1,
                    NATIVE,
                    to_checksum_address(frame["from"]),
                    to_checksum_address(frame["to"]),
                    value,
                )
            )
        stack.extend(frame.get("calls") or ())
    return moves


# ---------------------------------------------------------------------- flows


def searchers_of(*, sender: str, contract: str | None, moves: Iterable[TokenMove]) -> tuple[str, ...]:
    """The searcher's addresses: the transaction's sender and the contract it called.

    Except when that contract spent the sender's own tokens and paid it back in
    this transaction (a token moved from the sender to the contract, and one
    from the contract to the sender, in the logs): then the contract is a router
    or aggregator working for the sender, whose gain is what reached the sender;
    what the contract kept (an aggregator's fee, positive slippage) is not the
    sender's. Native coin sent with the call does not count (bots fund their
    own contract's builder tips that way).
    """
    if not contract or contract == sender:
        return (sender,)
    pulled = paid_back = False
    for move in moves:
        if move.token == NATIVE:
            continue
        pulled = pulled or (move.sender == sender and move.recipient == contract)
        paid_back = paid_back or (move.sender == contract and move.recipient == sender)
    return (sender,) if pulled and paid_back else (sender, contract)


def searcher_flows(
    *,
    moves: Iterable[TokenMove],
    searchers: Iterable[str],
    fee_recipient: str | None,
    native_measured: bool,
    wrapped_native: str | None,
) -> tuple[dict[str, int], dict[str, int]]:
    """(gains, builder payments) of the searcher set, per token.

    Moves between two searcher addresses cancel. A move from the searcher to
    the fee recipient is a builder payment. Native coin counts as the wrapped
    native token in the gains and stays ``NATIVE`` in the builder payments.
    Without a trace (``native_measured`` False) wrapping and unwrapping by the
    searcher are left out: the native side of the exchange is not seen, and the
    two sides are the same asset.
    """
    group = set(searchers)
    gains: dict[str, int] = defaultdict(int)
    paid: dict[str, int] = defaultdict(int)
    for move in moves:
        inside_from, inside_to = move.sender in group, move.recipient in group
        if inside_from == inside_to:
            continue
        if not native_measured and move.token == wrapped_native and wrapped_native in (move.sender, move.recipient):
            continue  # a Deposit/Withdrawal by the searcher, whose native side is unseen
        token = (wrapped_native or NATIVE) if move.token == NATIVE else move.token
        if inside_to:
            gains[token] += move.amount
        elif fee_recipient and move.recipient == fee_recipient:
            paid[move.token] += move.amount
        else:
            gains[token] -= move.amount
    return {t: v for t, v in gains.items() if v}, {t: v for t, v in paid.items() if v}


# ---------------------------------------------------------------------- cycles


def _reach(moves: Sequence[TokenMove], searchers: frozenset[str]) -> Callable[[str, str], frozenset[str]]:
    """reach(token, address): every address the token could travel to from ``address`` in this transaction."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)

    def node(address: str) -> str:
        return "searcher" if address in searchers else address

    for move in moves:
        edges[(move.token, node(move.sender))].add(node(move.recipient))
    cache: dict[tuple[str, str], frozenset[str]] = {}

    def reach(token: str, address: str) -> frozenset[str]:
        key = (token, node(address))
        found = cache.get(key)
        if found is None:
            seen = {key[1]}
            queue = deque([key[1]])
            while queue and len(seen) < 4096:
                for nxt in edges.get((token, queue.popleft()), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        queue.append(nxt)
            found = cache[key] = frozenset(seen)
        return found

    return reach


def _closed_paths(
    hops: Sequence[Hop], links: list[list[int]], *, max_hops: int, max_expansions: int
) -> dict[frozenset[int], tuple[int, ...]]:
    """Every closed path (first return to its start token, distinct pools), one cyclic order per hop set."""
    found: dict[frozenset[int], tuple[int, ...]] = {}
    budget_per_start = max(64, max_expansions // max(1, len(hops)))
    for start in range(len(hops)):
        start_token = hops[start].token_in
        budget = budget_per_start
        stack: list[tuple[int, ...]] = [(start,)]
        while stack and budget > 0:
            path = stack.pop()
            budget -= 1
            if len(path) >= 2 and hops[path[-1]].token_out == start_token:
                found.setdefault(frozenset(path), path)
                continue  # closed: a cycle ends at the first return to its start token
            if len(path) >= max_hops:
                continue
            pools = {hops[i].pool for i in path}
            for j in reversed(links[path[-1]]):
                if j not in path and hops[j].pool not in pools:
                    stack.append((*path, j))
    return found


def token_cycle_possible(hops: Sequence[Hop], *, max_hops: int = DEFAULT_MAX_HOPS) -> bool:
    """Whether the hops' tokens alone close a cycle over ≥ 2 pools (the cheap test before reading a receipt)."""
    hops = list(hops)[:DEFAULT_MAX_SWAPS]
    links = [[j for j, b in enumerate(hops) if i != j and a.token_out == b.token_in] for i, a in enumerate(hops)]
    return bool(_closed_paths(hops, links, max_hops=max_hops, max_expansions=4096))


def arbitrage_find(
    *,
    hops: Sequence[Hop],
    moves: Sequence[TokenMove],
    searchers: Iterable[str],
    fee_recipient: str | None = None,
    native_moves: Sequence[TokenMove] | None = None,
    wrapped_native: str | None = None,
    max_hops: int = DEFAULT_MAX_HOPS,
    max_expansions: int = DEFAULT_MAX_EXPANSIONS,
) -> TxArbitrage | None:
    """The cycles of one transaction's hops (log order) and the searcher's flows; None if no cycle closes.

    ``moves``: Transfers/Deposits/Withdrawals of the transaction (``moves_from_logs``);
    ``native_moves``: native calls with value from a trace, None when not traced.
    ``fee_recipient``: the block's fee recipient, None when unknown (no builder payment measured).
    """
    group = frozenset(a for a in searchers if a)
    hops = [h for h in hops if h.pool not in group][:DEFAULT_MAX_SWAPS]
    all_moves = [*moves, *(native_moves or ())]
    reach = _reach(all_moves, group)
    links: list[list[int]] = [[] for _ in hops]
    for i, a in enumerate(hops):
        for j, b in enumerate(hops):
            chained = i != j and a.token_out == b.token_in and a.pool != b.pool
            if chained and (a.recipient == b.pool or b.pool in reach(a.token_out, a.recipient)):
                links[i].append(j)
    paths = _closed_paths(hops, links, max_hops=max_hops, max_expansions=max_expansions)
    if not paths:
        return None
    recipient = fee_recipient if fee_recipient and fee_recipient != ZERO_ADDRESS else None
    gains, paid = searcher_flows(
        moves=all_moves,
        searchers=group,
        fee_recipient=recipient,
        native_measured=native_moves is not None,
        wrapped_native=wrapped_native,
    )

    first_touch: dict[str, int] = {h.pool: h.log_index for h in hops}
    for move in moves:
        for address in (move.sender, move.recipient):
            if address in first_touch and move.log_index < first_touch[address]:
                first_touch[address] = move.log_index

    def rank(path: tuple[int, ...]) -> tuple[int, int, int, int]:
        """Fewest internal links whose amounts differ, least interleaved with other swaps, shortest, earliest."""
        inexact = sum(1 for a, b in pairwise(path) if hops[a].amount_out != hops[b].amount_in)
        lo = min(hops[i].log_index for i in path)
        hi = max(hops[i].log_index for i in path)
        interleaved = sum(1 for k, h in enumerate(hops) if k not in path and lo < h.log_index < hi)
        return (inexact, interleaved, len(path), lo)

    rotated = [_rotate(hops, path, first_touch) for path in paths.values()]
    chosen: list[tuple[int, ...]] = []
    used: set[int] = set()
    for path in sorted(rotated, key=rank):
        if used.isdisjoint(path):
            used.update(path)
            chosen.append(path)
    cycles = [Cycle(tuple(hops[i] for i in path)) for path in chosen]
    cycles.sort(key=lambda c: min(h.log_index for h in c.hops))
    return TxArbitrage(
        cycles=tuple(cycles),
        searchers=tuple(sorted(group)),
        gains=gains,
        builder_payments=paid if recipient else {},
        native_measured=native_moves is not None,
    )


def _rotate(hops: Sequence[Hop], path: tuple[int, ...], first_touch: Mapping[str, int]) -> tuple[int, ...]:
    """The economic order of a closed path: it starts at the pool the transaction touched first.

    Swaps run one after the other, so the first hop's pool moves tokens before
    any other hop's: the searcher's payment into it, or (a flash swap, a V3
    swap paid in its callback) its own payout, logged before the callback runs
    the rest of the cycle, although its ``Swap`` is logged last.
    """
    start = min(range(len(path)), key=lambda k: (first_touch.get(hops[path[k]].pool, 1 << 62), k))
    return path[start:] + path[:start]
