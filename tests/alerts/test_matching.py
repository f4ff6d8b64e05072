"""The matcher is plain values: the WebSocket's filters plus pool, token and bot address."""

from __future__ import annotations

from alerts.matching import Detection, RuleFilter, matches
from streaming.filters import SubscriptionFilter

POOL, TOKEN, BOT = "0x" + "a" * 40, "0x" + "b" * 40, "0x" + "c" * 40


def _tx(**changes: object) -> Detection:
    values: dict[str, object] = {
        "kind": "transactions",
        "row_id": 1,
        "chain_id": 56,
        "profit": 120.0,
        "swap_count": 3,
        "pools": frozenset({POOL}),
        "tokens": frozenset({TOKEN}),
        "bot": BOT,
    }
    values.update(changes)
    return Detection(**values)  # type: ignore[arg-type]


def _rule(**changes: object) -> RuleFilter:
    values: dict[str, object] = {"rule_id": 7, "channel": "transactions", "filter": SubscriptionFilter()}
    values.update(changes)
    return RuleFilter(**values)  # type: ignore[arg-type]


def test_websocket_filters_apply() -> None:
    assert _rule(filter=SubscriptionFilter(chain_id=56, min_profit=100, max_profit=200, min_swaps=3)).matches(_tx())
    assert not _rule(filter=SubscriptionFilter(chain_id=137)).matches(_tx())
    assert not _rule(filter=SubscriptionFilter(min_profit=121)).matches(_tx())
    assert not _rule(filter=SubscriptionFilter(max_profit=119)).matches(_tx())
    assert not _rule(filter=SubscriptionFilter(min_swaps=4)).matches(_tx())


def test_pool_token_and_bot_addresses() -> None:
    assert _rule(pool=POOL, token=TOKEN, bot=BOT).matches(_tx())
    assert not _rule(pool="0x" + "d" * 40).matches(_tx())
    assert not _rule(token="0x" + "d" * 40).matches(_tx())
    assert not _rule(bot="0x" + "d" * 40).matches(_tx())
    assert not _rule(bot=BOT).matches(_tx(bot=None))


def test_channel_must_match_and_every_pair_is_listed() -> None:
    opp = _tx(kind="opportunities", swap_count=None)
    assert not _rule().matches(opp)
    rules = [_rule(), _rule(rule_id=8, filter=SubscriptionFilter(min_profit=1000))]
    assert matches(rules, [_tx(row_id=1), _tx(row_id=2, profit=5000.0)]) == [
        (7, _tx(row_id=1)),
        (7, _tx(row_id=2, profit=5000.0)),
        (8, _tx(row_id=2, profit=5000.0)),
    ]
