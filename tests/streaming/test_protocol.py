"""Pure protocol: parsing, validation, filter matching, message texts, rate limiting."""

from __future__ import annotations

import json

import pytest

from streaming.events import group_name, notification_event
from streaming.filters import SubscriptionFilter, any_matches
from streaming.limits import RateLimiter, RateVerdict
from streaming.protocol import (
    Ping,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    connected_text,
    parse_client_message,
    subscribed_text,
)
from tests.streaming.helpers import opportunity, transaction

CHAINS = frozenset({56, 137})


def parse(payload: object) -> object:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return parse_client_message(text, configured_chains=CHAINS)


def test_parses_the_three_client_messages() -> None:
    assert parse({"type": "ping"}) == Ping()
    assert parse({"type": "unsubscribe", "channel": "transactions"}) == Unsubscribe("transactions")
    assert parse(
        {"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56, "min_profit": 1000}}
    ) == Subscribe("opportunities", SubscriptionFilter(chain_id=56, min_profit=1000.0))
    assert parse({"type": "subscribe", "channel": "transactions"}) == Subscribe("transactions", SubscriptionFilter())


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("not json", "Invalid JSON"),
        ('{"type": "ping"', "Invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('"ping"', "expected a JSON object"),
        ({"channel": "opportunities"}, "Missing message type"),
        ({"type": "hello"}, "Unknown message type: hello"),
        ({"type": 5}, "Unknown message type: 5"),
        (
            {"type": "subscribe", "channel": "invalid_channel"},
            "Invalid channel: invalid_channel. Must be 'opportunities' or 'transactions'",
        ),
        ({"type": "subscribe"}, "Invalid channel: missing"),
        ({"type": "unsubscribe", "channel": "blocks"}, "Invalid channel: blocks"),
        ({"type": "subscribe", "channel": "opportunities", "filters": [56]}, "filters: must be a JSON object"),
        ({"type": "subscribe", "channel": "opportunities", "filters": None}, "filters: must be a JSON object"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"chain": 56}}, "Unknown filter: chain"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"min_swaps": 2}}, "'transactions' channel only"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": "56"}}, "chain_id must be"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": True}}, "chain_id must be"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": None}}, "chain_id must be"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 56.0}}, "chain_id must be"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": -56}}, "chain_id must be"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 1}}, "not a configured chain"),
        ({"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": "3"}}, "min_swaps must be"),
        ({"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": 2.5}}, "min_swaps must be"),
        ({"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": False}}, "min_swaps must be"),
        ({"type": "subscribe", "channel": "transactions", "filters": {"min_swaps": -1}}, "min_swaps must be"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"min_profit": "10"}}, "min_profit must be"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"min_profit": True}}, "min_profit must be"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"max_profit": None}}, "max_profit must be"),
        ({"type": "subscribe", "channel": "opportunities", "filters": {"min_profit": -1}}, "min_profit must be"),
        ('{"type": "subscribe", "channel": "opportunities", "filters": {"min_profit": NaN}}', "NaN is not allowed"),
        ('{"type":"subscribe","channel":"opportunities","filters":{"max_profit":Infinity}}', "Infinity is not"),
        ('{"type":"subscribe","channel":"opportunities","filters":{"max_profit":1e999}}', "finite number"),
        (
            {"type": "subscribe", "channel": "opportunities", "filters": {"min_profit": 10, "max_profit": 5}},
            "min_profit must not be greater than max_profit",
        ),
    ],
)
def test_bad_input_is_a_clear_protocol_error(payload: object, error: str) -> None:
    with pytest.raises(ProtocolError, match=None) as caught:
        parse(payload)
    assert error in str(caught.value)


def test_an_echoed_bad_value_is_cut_short() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse({"type": "x" * 10_000})
    assert len(str(caught.value)) < 200


def test_filter_matching_follows_the_spec() -> None:
    f = SubscriptionFilter(chain_id=56, min_profit=1000.0, max_profit=100000.0)
    assert f.matches(56, 1000.0, None)
    assert f.matches(56, 100000.0, None)
    assert not f.matches(137, 5000.0, None)
    assert not f.matches(56, 999.99, None)
    assert not f.matches(56, 100000.01, None)
    swaps = SubscriptionFilter(min_swaps=3)
    assert swaps.matches(137, 1.0, 3)
    assert not swaps.matches(137, 1.0, 2)
    assert SubscriptionFilter().matches(1, -5.0, None)
    assert any_matches([SubscriptionFilter(chain_id=137), SubscriptionFilter(min_profit=10)], 56, 11.0, None)
    assert not any_matches([SubscriptionFilter(chain_id=137), SubscriptionFilter(min_profit=10)], 56, 9.0, None)


def test_subscribed_echoes_the_filters_as_accepted() -> None:
    message = json.loads(subscribed_text("opportunities", SubscriptionFilter(chain_id=56, min_profit=1000.0)))
    assert message == {
        "type": "subscribed",
        "channel": "opportunities",
        "filters": {"chain_id": 56, "min_profit": 1000.0},
    }
    assert json.loads(connected_text("ws_x")) == {
        "type": "connected",
        "connection_id": "ws_x",
        "message": "Connected to Multi-Chain Arbitrage Monitor WebSocket",
    }


def test_notification_event_carries_text_encoded_once_and_the_match_keys() -> None:
    data = transaction(chain_id=137, profit_net_usd=12.5, swap_count=4)
    event = notification_event("transactions", data, timestamp="2025-11-16T16:54:43.123456Z")
    assert (event["chain_id"], event["profit"], event["swap_count"]) == (137, 12.5, 4)
    assert json.loads(event["text"]) == {
        "type": "transaction",
        "timestamp": "2025-11-16T16:54:43.123456Z",
        "data": data,
    }
    opp = notification_event("opportunities", opportunity(profit_usd=3.0), timestamp="t")
    assert (opp["profit"], opp["swap_count"]) == (3.0, None)
    assert json.loads(opp["text"])["data"]["reserve0"] == 10**21
    assert group_name("opportunities", 56) == "opportunities.56"


def test_rate_limiter_warns_once_then_closes_if_the_flood_goes_on() -> None:
    limiter = RateLimiter(rate=2, burst=2, patience=3)
    assert [limiter.check(0.0) for _ in range(2)] == [RateVerdict.ALLOW] * 2
    assert limiter.check(0.0) is RateVerdict.REJECT
    assert limiter.check(0.0) is RateVerdict.REJECT_QUIETLY
    assert limiter.check(0.6) is RateVerdict.ALLOW  # refilled: forgiven
    assert limiter.check(0.6) is RateVerdict.REJECT
    verdicts = [limiter.check(0.6) for _ in range(3)]
    assert verdicts[-1] is RateVerdict.CLOSE


@pytest.mark.parametrize("key", ["min_profit", "max_profit"])
def test_a_profit_with_a_thousand_digits_is_an_error_not_a_crash(key: str) -> None:
    huge = int("1" + "0" * 1000)
    with pytest.raises(ProtocolError, match=f"Invalid filter: {key} must be a non-negative finite number, got 1000"):
        parse({"type": "subscribe", "channel": "opportunities", "filters": {key: huge}})
    # Big but finite as a float is a profit like any other.
    assert parse({"type": "subscribe", "channel": "opportunities", "filters": {key: 10**300}}) == Subscribe(
        "opportunities", SubscriptionFilter(**{key: 1e300})
    )


def test_a_huge_chain_id_is_quoted_short() -> None:
    with pytest.raises(ProtocolError) as error:
        parse({"type": "subscribe", "channel": "opportunities", "filters": {"chain_id": 10**1000}})
    assert "is not a configured chain" in str(error.value) and len(str(error.value)) < 200
