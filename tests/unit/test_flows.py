"""Executed arbitrage from token flows (transactions.flows), on transactions built by hand.

Each test plays a transaction as the chain would log it: the pools' Transfers, their Swaps (amounts
from the pool's side), the searcher's own transfers, wraps, and native calls from a trace. The cases
of issue 13's list are here: a losing tax-token round trip, a bot keeping 0.5 % mid-cycle, unrelated
swaps in one batch, tax above 1 %, plus flash swaps, V3 signs, several cycles and tokens, aggregators
and builder payments.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from dexes.pancakeswap_v3.events import SWAP_TOPIC as PANCAKE_V3_SWAP_TOPIC
from dexes.uniswap_v2.events import SWAP_TOPIC as V2_SWAP_TOPIC
from dexes.uniswap_v3.events import SWAP_TOPIC as V3_SWAP_TOPIC
from evm.rpc import LogRecord
from transactions.flows import (
    NATIVE,
    Hop,
    TokenMove,
    arbitrage_find,
    hop_from_log,
    moves_from_logs,
    native_moves_from_trace,
    searchers_of,
    token_cycle_possible,
)


def _checksum(n: int) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address("0x" + f"{n:040x}")


WBNB, USDT, CAKE, TAX, ETH = (_checksum(0xA0 + i) for i in range(5))
BOT, EXECUTOR, BUILDER, USER, AGGREGATOR, DEAD = (_checksum(0xB0 + i) for i in range(6))
P1, P2, P3, P4, P5 = (_checksum(0xC0 + i) for i in range(5))


@dataclass
class Tx:
    """A transaction's logs as the chain writes them, in order."""

    hops: list[Hop] = field(default_factory=list)
    moves: list[TokenMove] = field(default_factory=list)
    _index: itertools.count[int] = field(default_factory=itertools.count)

    def transfer(self, token: str, sender: str, recipient: str, amount: int, tax_bps: int = 0) -> int:
        """A token transfer (a fee-on-transfer token burns its tax to 0xdead); returns what arrived."""
        fee = amount * tax_bps // 10_000
        self.moves.append(TokenMove(next(self._index), token, sender, recipient, amount - fee))
        if fee:
            self.moves.append(TokenMove(next(self._index), token, sender, DEAD, fee))
        return amount - fee

    def swap(
        self,
        pool: str,
        token_in: str,
        amount_in: int,
        token_out: str,
        amount_out: int,
        to: str,
        venue: str = "uniswap_v2",
    ) -> None:
        self.hops.append(Hop(next(self._index), pool, venue, token_in, amount_in, token_out, amount_out, to))

    def v2(
        self, pool: str, token_in: str, amount_in: int, token_out: str, amount_out: int, to: str, tax_out: int = 0
    ) -> int:
        """A V2 pair paying ``to`` (optimistic transfer, then Swap); the input was transferred in before."""
        arrived = self.transfer(token_out, pool, to, amount_out, tax_out)
        self.swap(pool, token_in, amount_in, token_out, amount_out, to)
        return arrived

    def find(self, *, fee_recipient: str | None = BUILDER, native: list[TokenMove] | None = None):  # type: ignore[no-untyped-def]
        return arbitrage_find(
            hops=self.hops,
            moves=self.moves,
            searchers=[BOT, EXECUTOR],
            fee_recipient=fee_recipient,
            native_moves=native,
            wrapped_native=WBNB,
        )


def test_two_hop_cycle_through_pools_is_one_profitable_arbitrage() -> None:
    tx = Tx()
    tx.transfer(WBNB, EXECUTOR, P1, 10**18)
    tx.v2(P1, WBNB, 10**18, USDT, 600 * 10**18, P2)  # pool to pool
    tx.v2(P2, USDT, 600 * 10**18, WBNB, 10**18 + 5 * 10**15, EXECUTOR)
    arb = tx.find()
    assert arb is not None and len(arb.cycles) == 1
    (cycle,) = arb.cycles
    assert (cycle.pools, cycle.tokens, cycle.start_amount, cycle.profit) == (
        (P1, P2),
        (WBNB, USDT, WBNB),
        10**18,
        5 * 10**15,
    )
    assert cycle.venues == ("uniswap_v2", "uniswap_v2") and cycle.profitable
    assert arb.gains == {WBNB: 5 * 10**15} and arb.outcome == "profit"


def test_losing_tax_token_round_trip_is_a_loss_not_a_profit_in_the_tax_token() -> None:
    """Issue 13: WBNB -> 1 %-tax token -> WBNB that lost WBNB was reported as '+X TAX'."""
    tx = Tx()
    tx.transfer(WBNB, EXECUTOR, P1, 10**18)
    got = tx.v2(P1, WBNB, 10**18, TAX, 1000 * 10**18, EXECUTOR, tax_out=100)  # 990 arrive
    sent = tx.transfer(TAX, EXECUTOR, P2, got, tax_bps=100)  # 980.1 reach P2
    tx.v2(P2, TAX, sent, WBNB, 99 * 10**16, EXECUTOR)
    arb = tx.find()
    assert arb is not None
    assert arb.gains == {WBNB: -(10**16)}  # the executor's TAX nets to zero: what arrived left again
    assert arb.outcome == "loss" and not arb.cycles[0].profitable
    assert arb.cycles[0].start_token == WBNB and arb.cycles[0].profit == -(10**16)


def test_tax_above_one_percent_is_linked_by_the_transfers_made() -> None:
    """Issue 13: a 1 % tolerance missed tax tokens above 1 % (common on BSC). 10 % here."""
    tx = Tx()
    tx.transfer(USDT, EXECUTOR, P1, 1000 * 10**18)
    got = tx.v2(P1, USDT, 1000 * 10**18, TAX, 5000 * 10**18, EXECUTOR, tax_out=1000)
    sent = tx.transfer(TAX, EXECUTOR, P2, got, tax_bps=1000)
    tx.v2(P2, TAX, sent, USDT, 1010 * 10**18, EXECUTOR)
    arb = tx.find()
    assert arb is not None and arb.gains == {USDT: 10 * 10**18} and arb.outcome == "profit"
    assert arb.cycles[0].pools == (P1, P2) and arb.cycles[0].hops[1].amount_in == sent


def test_bot_keeping_half_a_percent_mid_cycle_is_credited_in_both_tokens() -> None:
    """Issue 13: a bot keeping 0.5 % of the middle token was '+X' in it and its real WBNB result dropped."""
    tx = Tx()
    tx.transfer(WBNB, EXECUTOR, P1, 10**18)
    got = tx.v2(P1, WBNB, 10**18, USDT, 600 * 10**18, EXECUTOR)
    forward = got * 995 // 1000
    tx.transfer(USDT, EXECUTOR, P2, forward)
    tx.v2(P2, USDT, forward, WBNB, 10**18 + 2 * 10**15, EXECUTOR)
    arb = tx.find()
    assert arb is not None and len(arb.cycles) == 1
    assert arb.gains == {WBNB: 2 * 10**15, USDT: 3 * 10**18}
    assert arb.cycles[0].start_token == WBNB and arb.cycles[0].profit == 2 * 10**15


def test_two_unrelated_swaps_in_a_batch_are_not_an_arbitrage() -> None:
    """Issue 13: WBNB->USDT for one user and USDT->WBNB for another, amounts within 1 %: no cycle."""
    tx = Tx()
    tx.transfer(WBNB, EXECUTOR, P1, 10**18)
    tx.v2(P1, WBNB, 10**18, USDT, 600 * 10**18, USER)
    tx.transfer(USDT, AGGREGATOR, P2, 600 * 10**18)  # someone else's USDT
    tx.v2(P2, USDT, 600 * 10**18, WBNB, 10**18 + 10**15, AGGREGATOR)
    assert token_cycle_possible(tx.hops)  # tokens alone would close it ...
    assert tx.find() is None  # ... addresses do not


def test_swap_and_its_reverse_on_one_pool_is_a_wash() -> None:
    tx = Tx()
    tx.transfer(WBNB, EXECUTOR, P1, 10**18)
    tx.v2(P1, WBNB, 10**18, USDT, 600 * 10**18, EXECUTOR)
    tx.transfer(USDT, EXECUTOR, P1, 600 * 10**18)
    tx.v2(P1, USDT, 600 * 10**18, WBNB, 99 * 10**16, EXECUTOR)
    assert tx.find() is None


def test_flash_swap_is_started_at_the_pool_that_lent_although_its_swap_is_logged_last() -> None:
    tx = Tx()
    tx.transfer(USDT, P1, EXECUTOR, 600 * 10**18)  # P1 pays first (optimistic transfer), calls back
    tx.transfer(USDT, EXECUTOR, P2, 600 * 10**18)
    tx.v2(P2, USDT, 600 * 10**18, CAKE, 300 * 10**18, P3)
    tx.v2(P3, CAKE, 300 * 10**18, WBNB, 102 * 10**16, EXECUTOR)
    tx.transfer(WBNB, EXECUTOR, P1, 10**18)  # repays P1
    tx.swap(P1, WBNB, 10**18, USDT, 600 * 10**18, EXECUTOR)  # P1's Swap, logged last
    arb = tx.find()
    assert arb is not None
    (cycle,) = arb.cycles
    assert cycle.pools == (P1, P2, P3) and cycle.start_token == WBNB and cycle.profit == 2 * 10**16
    assert arb.gains == {WBNB: 2 * 10**16}


def test_two_cycles_in_two_start_tokens_with_the_executor_holding_between_hops() -> None:
    tx = Tx()
    for pool_a, pool_b, token, mid, start, end in (
        (P1, P2, WBNB, USDT, 10**18, 10**18 + 7),
        (P3, P4, CAKE, ETH, 500, 530),
    ):
        tx.transfer(token, EXECUTOR, pool_a, start)
        got = tx.v2(pool_a, token, start, mid, 1000, EXECUTOR)
        tx.transfer(mid, EXECUTOR, pool_b, got)
        tx.v2(pool_b, mid, got, token, end, EXECUTOR)
    arb = tx.find()
    assert arb is not None
    assert [c.pools for c in arb.cycles] == [(P1, P2), (P3, P4)]
    assert arb.gains == {WBNB: 7, CAKE: 30}


def test_aggregator_forwarding_between_hops_keeps_the_chain() -> None:
    tx = Tx()
    tx.transfer(USDT, EXECUTOR, P1, 600)
    got = tx.v2(P1, USDT, 600, WBNB, 10, AGGREGATOR)  # the aggregator receives, then forwards
    tx.transfer(WBNB, AGGREGATOR, P2, got)
    tx.v2(P2, WBNB, got, USDT, 612, EXECUTOR)
    arb = tx.find()
    assert arb is not None and arb.cycles[0].pools == (P1, P2) and arb.gains == {USDT: 12}


def test_aggregator_run_mid_cycle_with_a_fee_keeps_the_chain_and_the_executors_exact_gain() -> None:
    # The executor does hop 1, then hands WBNB to an aggregator (transferFrom), which sends its fee to a
    # collector, pays P2 (whose output goes straight to the pair P3), and forwards P3's output back.
    collector = _checksum(0xF0)
    tx = Tx()
    tx.transfer(USDT, EXECUTOR, P1, 600)
    got = tx.v2(P1, USDT, 600, WBNB, 1_000, EXECUTOR)
    tx.transfer(WBNB, EXECUTOR, AGGREGATOR, got)
    tx.transfer(WBNB, AGGREGATOR, collector, 1)
    tx.transfer(WBNB, AGGREGATOR, P2, got - 1)
    tx.v2(P2, WBNB, got - 1, CAKE, 50, P3)
    out = tx.v2(P3, CAKE, 50, USDT, 611, AGGREGATOR)
    tx.transfer(USDT, AGGREGATOR, EXECUTOR, out)
    arb = tx.find()
    assert arb is not None and [c.pools for c in arb.cycles] == [(P1, P2, P3)]
    assert arb.cycles[0].profit == 11 and arb.gains == {USDT: 11}


def test_an_account_sending_a_whole_cycle_through_an_aggregator_gains_what_came_back() -> None:
    # No contract of its own: the account calls the aggregator (the contract it called, so on the
    # searcher's side); the fee it sends to its collector leaves that side and is a cost.
    collector = _checksum(0xF0)
    tx = Tx()
    tx.transfer(USDT, USER, AGGREGATOR, 600)
    tx.transfer(USDT, AGGREGATOR, collector, 3)
    tx.transfer(USDT, AGGREGATOR, P1, 597)
    got = tx.v2(P1, USDT, 597, WBNB, 10, AGGREGATOR)
    tx.transfer(WBNB, AGGREGATOR, P2, got)
    out = tx.v2(P2, WBNB, got, USDT, 612, AGGREGATOR)
    tx.transfer(USDT, AGGREGATOR, USER, out)
    searchers = searchers_of(sender=USER, contract=AGGREGATOR, moves=tx.moves)
    assert searchers == (USER,)  # the aggregator spent the account's tokens and paid it back: it works for it
    arb = arbitrage_find(hops=tx.hops, moves=tx.moves, searchers=searchers, wrapped_native=WBNB)
    assert arb is not None and arb.cycles[0].pools == (P1, P2)
    assert arb.gains == {USDT: 12}  # 612 back for 600 paid: the fee is counted
    assert arb.cycles[0].profit == 15  # the pools' side: the fee was taken before the first pool


def test_a_fee_the_aggregator_keeps_is_not_the_accounts_gain() -> None:
    tx = Tx()
    tx.transfer(USDT, USER, AGGREGATOR, 600)  # the aggregator keeps 3 of it in its own balance
    tx.transfer(USDT, AGGREGATOR, P1, 597)
    got = tx.v2(P1, USDT, 597, WBNB, 10, P2)  # pair to pair
    out = tx.v2(P2, WBNB, got, USDT, 612, AGGREGATOR)
    tx.transfer(USDT, AGGREGATOR, USER, out)
    searchers = searchers_of(sender=USER, contract=AGGREGATOR, moves=tx.moves)
    arb = arbitrage_find(hops=tx.hops, moves=tx.moves, searchers=searchers, wrapped_native=WBNB)
    assert arb is not None and arb.gains == {USDT: 12}
    # Counting the aggregator as the searcher's would have credited its fee: 612 - 597.
    both = arbitrage_find(hops=tx.hops, moves=tx.moves, searchers=[USER, AGGREGATOR], wrapped_native=WBNB)
    assert both is not None and both.gains == {USDT: 15}


def test_a_bots_own_contract_stays_on_the_searchers_side() -> None:
    # The executor holds its own capital; native coin the bot sends with the call (a builder tip) is not a pull.
    moves = [
        TokenMove(0, NATIVE, BOT, EXECUTOR, 10**17),
        TokenMove(1, USDT, EXECUTOR, P1, 600),
        TokenMove(2, USDT, P2, EXECUTOR, 612),
    ]
    assert searchers_of(sender=BOT, contract=EXECUTOR, moves=moves) == (BOT, EXECUTOR)
    assert searchers_of(sender=BOT, contract=None, moves=moves) == (BOT,)


def test_builder_payments_native_from_the_trace_and_wrapped_from_the_logs() -> None:
    tx = Tx()
    tx.transfer(WBNB, EXECUTOR, P1, 10**18)
    tx.v2(P1, WBNB, 10**18, USDT, 600 * 10**18, P2)
    tx.v2(P2, USDT, 600 * 10**18, WBNB, 11 * 10**17, EXECUTOR)
    tx.transfer(WBNB, EXECUTOR, BUILDER, 3 * 10**16)
    trace = {
        "type": "CALL", "from": BOT.lower(), "to": EXECUTOR.lower(), "value": hex(2 * 10**16),
        "calls": [
            {"type": "CALL", "from": EXECUTOR.lower(), "to": BUILDER.lower(), "value": hex(2 * 10**16)},
            {"type": "CALL", "from": EXECUTOR.lower(), "to": USER.lower(), "value": hex(5), "error": "reverted"},
        ],
    }  # fmt: skip
    native = native_moves_from_trace(trace)
    assert [(m.sender, m.recipient, m.amount) for m in native if m.recipient == BUILDER] == [
        (EXECUTOR, BUILDER, 2 * 10**16)
    ]
    arb = tx.find(native=native)
    assert arb is not None
    assert arb.builder_payments == {WBNB: 3 * 10**16, NATIVE: 2 * 10**16}
    assert arb.native_builder_payment == 2 * 10**16
    assert arb.gains == {WBNB: 10**17}  # the payments are not revenue; the bot's own msg.value is internal
    untraced = tx.find()
    assert untraced is not None and untraced.native_builder_payment is None
    assert untraced.builder_payments == {WBNB: 3 * 10**16}
    unknown = tx.find(fee_recipient=None)
    assert unknown is not None and unknown.builder_payments == {} and unknown.gains == {WBNB: 10**17 - 3 * 10**16}


def test_wrapping_by_the_searcher_is_neutral_with_or_without_a_trace() -> None:
    tx = Tx()
    tx.transfer(USDT, EXECUTOR, P1, 600)
    got = tx.v2(P1, USDT, 600, WBNB, 10, EXECUTOR)
    tx.moves.append(TokenMove(50, WBNB, EXECUTOR, WBNB, 4))  # Withdrawal(src=executor, 4)
    tx.transfer(WBNB, EXECUTOR, P2, got - 4)
    tx.moves.append(TokenMove(51, WBNB, WBNB, EXECUTOR, 4))  # Deposit(dst=executor, 4)
    tx.v2(P2, WBNB, got - 4, USDT, 610, EXECUTOR)
    assert tx.find().gains == {USDT: 10, WBNB: 4}  # type: ignore[union-attr]
    native = [TokenMove(-1, NATIVE, WBNB, EXECUTOR, 4), TokenMove(-1, NATIVE, EXECUTOR, WBNB, 4)]
    assert tx.find(native=native).gains == {USDT: 10, WBNB: 4}  # type: ignore[union-attr]


def _log(topic: str, address: str, words: list[int], index: int = 0) -> LogRecord:
    data = b"".join((w % (1 << 256)).to_bytes(32, "big") for w in words)
    sender = "0x" + "00" * 12 + "11" * 20
    recipient = "0x" + "00" * 12 + EXECUTOR[2:].lower()
    return LogRecord(1, "0x" + "ab" * 32, "0x" + "cd" * 32, 0, index, address, (topic, sender, recipient), data)


def test_swap_logs_of_each_family_become_hops_from_the_pools_side() -> None:
    v2 = hop_from_log(_log(V2_SWAP_TOPIC, P1, [0, 600, 10, 0]), token0=WBNB, token1=USDT)
    assert v2 is not None and (v2.token_in, v2.amount_in, v2.token_out, v2.amount_out) == (USDT, 600, WBNB, 10)
    assert v2.recipient == EXECUTOR and v2.venue == "uniswap_v2"
    v3 = hop_from_log(_log(V3_SWAP_TOPIC, P2, [-10, 600, 2**96, 10**18, -5]), token0=WBNB, token1=USDT)
    assert v3 is not None and (v3.token_in, v3.amount_in, v3.token_out, v3.amount_out) == (USDT, 600, WBNB, 10)
    algebra = hop_from_log(_log(V3_SWAP_TOPIC, P2, [7, -3, 2**96, 1, 2]), token0=WBNB, token1=USDT, venue="algebra")
    assert algebra is not None and (algebra.token_in, algebra.amount_out, algebra.venue) == (WBNB, 3, "algebra")
    pancake = hop_from_log(_log(PANCAKE_V3_SWAP_TOPIC, P3, [7, -3, 2**96, 1, 2, 0, 0]), token0=WBNB, token1=USDT)
    assert pancake is not None and (pancake.token_in, pancake.venue) == (WBNB, "pancakeswap_v3")
    assert hop_from_log(_log(V3_SWAP_TOPIC, P2, [5, 5, 2**96, 1, 2]), token0=WBNB, token1=USDT) is None  # no direction


def test_transfers_and_the_wrapped_native_events_are_read_from_logs() -> None:
    from dexes.uniswap_v2.events import TRANSFER_TOPIC
    from transactions.flows import DEPOSIT_TOPIC, WITHDRAWAL_TOPIC

    def topic(address: str) -> str:
        return "0x" + "00" * 12 + address[2:].lower()

    logs = [
        LogRecord(1, "0x", "0x", 0, 0, USDT, (TRANSFER_TOPIC, topic(P1), topic(EXECUTOR)), (5).to_bytes(32, "big")),
        LogRecord(1, "0x", "0x", 0, 1, WBNB, (DEPOSIT_TOPIC, topic(EXECUTOR)), (7).to_bytes(32, "big")),
        LogRecord(1, "0x", "0x", 0, 2, WBNB, (WITHDRAWAL_TOPIC, topic(EXECUTOR)), (3).to_bytes(32, "big")),
        LogRecord(1, "0x", "0x", 0, 3, CAKE, (DEPOSIT_TOPIC, topic(EXECUTOR)), (9).to_bytes(32, "big")),  # not WBNB's
        LogRecord(1, "0x", "0x", 0, 4, P5, (TRANSFER_TOPIC, topic(P1), topic(USER), topic(BOT)), b""),  # ERC-721
    ]
    moves = moves_from_logs(logs, wrapped_native=WBNB)
    assert [(m.token, m.sender, m.recipient, m.amount) for m in moves] == [
        (USDT, P1, EXECUTOR, 5),
        (WBNB, WBNB, EXECUTOR, 7),
        (WBNB, EXECUTOR, WBNB, 3),
    ]


def test_many_swaps_terminate() -> None:
    tx = Tx()
    for _ in range(120):
        tx.swap(P1, WBNB, 1, USDT, 1, EXECUTOR)
        tx.swap(P2, USDT, 1, WBNB, 1, EXECUTOR)
        tx.transfer(USDT, EXECUTOR, P2, 1)
        tx.transfer(WBNB, EXECUTOR, P1, 1)
    arb = tx.find()
    assert arb is not None and all(len(c.hops) == 2 for c in arb.cycles)
