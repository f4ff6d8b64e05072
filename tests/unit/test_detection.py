from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from transactions.detection import DetectedArbitrage, SwapLeg, detect_arbitrages

_log = itertools.count()


def swap(
    pool: str, token_in: str, amount_in: int, token_out: str, amount_out: int, log_index: int | None = None
) -> SwapLeg:
    """A Swap log of ``pool`` (tokens sorted like a V2 pair) trading token_in for token_out."""
    token0, token1 = sorted((token_in, token_out))
    amounts = (amount_in, 0, 0, amount_out) if token_in == token0 else (0, amount_in, amount_out, 0)
    index = next(_log) if log_index is None else log_index
    return SwapLeg(index, pool, token0, token1, *amounts, sender="0xrouter", to="0xbot")


def only(found: list[DetectedArbitrage]) -> DetectedArbitrage:
    assert len(found) == 1, found
    return found[0]


def test_two_hop_arbitrage() -> None:
    arb = only(detect_arbitrages([swap("P1", "WBNB", 100, "X", 5000), swap("P2", "X", 5000, "WBNB", 103)]))
    assert arb.start_token == "WBNB"
    assert (arb.start_amount, arb.end_amount, arb.profit) == (100, 103, 3)
    assert arb.pools == ("P1", "P2")
    assert arb.tokens == ("WBNB", "X", "WBNB")
    assert (arb.swap_count, arb.strategy) == (2, "2-hop")


def test_three_and_four_hop_arbitrages() -> None:
    three = only(
        detect_arbitrages(
            [swap("P1", "USDT", 1000, "WBNB", 3), swap("P2", "WBNB", 3, "X", 70), swap("P3", "X", 70, "USDT", 1010)]
        )
    )
    assert three.strategy == "3-hop"
    assert three.tokens == ("USDT", "WBNB", "X", "USDT")
    assert three.profit == 10
    four = only(
        detect_arbitrages(
            [
                swap("P1", "A", 10, "B", 20),
                swap("P2", "B", 20, "C", 30),
                swap("P3", "C", 30, "D", 40),
                swap("P4", "D", 40, "A", 12),
            ]
        )
    )
    assert four.strategy == "4-hop"
    assert four.pools == ("P1", "P2", "P3", "P4")
    assert four.profit == 2


def test_flash_swap_logged_last_is_reported_in_economic_order() -> None:
    # Borrow X from P1 (its Swap is logged last), sell X on P2 for WBNB, repay P1 in WBNB.
    legs = [
        swap("P2", "X", 5000, "WBNB", 110, log_index=10),
        swap("P1", "WBNB", 100, "X", 5000, log_index=11),
    ]
    arb = only(detect_arbitrages(legs))
    assert arb.pools == ("P1", "P2")
    assert arb.start_token == "WBNB"
    assert arb.profit == 10
    assert [leg.log_index for leg in arb.legs] == [11, 10]
    three = only(
        detect_arbitrages(
            [
                swap("P2", "B", 20, "C", 30, log_index=1),
                swap("P3", "C", 30, "A", 15, log_index=2),
                swap("P1", "A", 10, "B", 20, log_index=3),
            ]
        )
    )
    assert three.pools == ("P1", "P2", "P3")
    assert three.profit == 5


def test_two_arbitrages_in_one_transaction_are_reported_separately() -> None:
    legs = [
        swap("P1", "WBNB", 100, "X", 5000),
        swap("P2", "X", 5000, "WBNB", 104),
        swap("Q1", "USDT", 300, "Y", 9),
        swap("Q2", "Y", 9, "BUSD", 301),
        swap("Q3", "BUSD", 301, "USDT", 305),
    ]
    found = detect_arbitrages(legs)
    assert [arb.pools for arb in found] == [("P1", "P2"), ("Q1", "Q2", "Q3")]
    assert [arb.profit for arb in found] == [4, 5]


def test_route_that_does_not_return_is_not_an_arbitrage() -> None:
    assert detect_arbitrages([swap("P1", "USDT", 100, "WBNB", 1), swap("P2", "WBNB", 1, "X", 50)]) == []


def test_single_swap_is_not_an_arbitrage() -> None:
    assert detect_arbitrages([swap("P1", "USDT", 100, "WBNB", 1)]) == []


def test_swap_and_reverse_on_the_same_pool_is_a_wash() -> None:
    assert detect_arbitrages([swap("P1", "WBNB", 100, "X", 5000), swap("P1", "X", 5000, "WBNB", 99)]) == []


def test_unrelated_swaps_are_left_out() -> None:
    legs = [
        swap("U1", "CAKE", 7, "USDT", 20),  # someone else's trade through the same router call
        swap("P1", "WBNB", 100, "X", 5000),
        swap("U2", "USDT", 55, "ETH", 1),
        swap("P2", "X", 5000, "WBNB", 101),
        swap("U3", "X", 123, "BUSD", 4),
    ]
    arb = only(detect_arbitrages(legs))
    assert arb.pools == ("P1", "P2")


def test_losing_arbitrage_reports_negative_profit() -> None:
    arb = only(detect_arbitrages([swap("P1", "WBNB", 100, "X", 5000), swap("P2", "X", 5000, "WBNB", 97)]))
    assert arb.profit == -3


def test_tolerance_links_fee_on_transfer_amounts() -> None:
    # The pool received 0.5% less X than the previous pool paid out (transfer tax).
    legs = [swap("P1", "WBNB", 100, "TAX", 10_000), swap("P2", "TAX", 9_950, "WBNB", 102)]
    assert only(detect_arbitrages(legs)).profit == 2
    assert detect_arbitrages(legs, tolerance=0.001) == []
    far = [swap("P1", "WBNB", 100, "TAX", 10_000), swap("P2", "TAX", 9_000, "WBNB", 102)]
    assert detect_arbitrages(far) == []


def test_exact_links_win_over_tolerant_ones() -> None:
    legs = [
        swap("P1", "WBNB", 100, "X", 5000),
        swap("P3", "X", 4990, "WBNB", 150),  # within 1% but not exact
        swap("P2", "X", 5000, "WBNB", 103),
    ]
    assert only(detect_arbitrages(legs)).pools == ("P1", "P2")


def test_legs_without_direction_are_ignored() -> None:
    flash_loan_repaid_in_kind = SwapLeg(5, "P9", "A", "B", 100, 0, 100, 0, "s", "t")
    both_in = SwapLeg(6, "P8", "A", "B", 5, 5, 0, 0, "s", "t")
    legs = [flash_loan_repaid_in_kind, both_in, swap("P1", "A", 10, "B", 20), swap("P2", "B", 20, "A", 11)]
    assert only(detect_arbitrages(legs)).pools == ("P1", "P2")


def test_netting_a_swap_with_input_on_both_sides() -> None:
    # 100 A in and 30 A back out, 40 B out: net 70 A → 40 B.
    leg = SwapLeg(0, "P1", "A", "B", 100, 0, 30, 40, "s", "t")
    assert leg.direction == ("A", 70, "B", 40)
    arb = only(detect_arbitrages([leg, swap("P2", "B", 40, "A", 75)]))
    assert (arb.start_amount, arb.profit) == (70, 5)


def test_wash_swaps_and_many_legs_terminate() -> None:
    # Hundreds of identical back-and-forth swaps on a few pools: every leg links to many others.
    legs = []
    for i in range(300):
        pool = f"W{i % 5}"
        legs.append(swap(pool, "A", 1000, "B", 1000) if i % 2 == 0 else swap(pool, "B", 1000, "A", 1000))
    found = detect_arbitrages(legs)
    used = [leg.log_index for arb in found for leg in arb.legs]
    assert len(used) == len(set(used))
    for arb in found:
        assert len(set(arb.pools)) == len(arb.pools)


def test_wash_burst_does_not_hide_a_later_arbitrage() -> None:
    legs = [swap(f"W{i % 7}", "A", 1000, "B", 1000) for i in range(200)]
    legs += [swap("P1", "WBNB", 100, "X", 5000), swap("P2", "X", 5000, "WBNB", 101)]
    assert [arb.pools for arb in detect_arbitrages(legs)] == [("P1", "P2")]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["P1", "P2", "P3", "P4", "P5"]),
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from([100, 101, 200]),
            st.sampled_from([100, 101, 200]),
        ),
        max_size=60,
    )
)
def test_random_inputs_give_consistent_arbitrages(raw: list[tuple[str, str, str, int, int]]) -> None:
    legs = [swap(pool, a, x, b, y) for pool, a, b, x, y in raw if a != b]
    found = detect_arbitrages(legs)
    used = [leg.log_index for arb in found for leg in arb.legs]
    assert len(used) == len(set(used))
    for arb in found:
        assert arb.swap_count == len(arb.legs) >= 2
        assert arb.tokens[0] == arb.tokens[-1] == arb.start_token
        assert len(set(arb.pools)) == len(arb.pools)
        for leg, token_in, token_out in zip(arb.legs, arb.tokens, arb.tokens[1:], strict=False):
            assert leg.token_in == token_in and leg.token_out == token_out
        assert arb.profit == arb.end_amount - arb.start_amount
