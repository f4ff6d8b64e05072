"""Opportunity services: idempotent recording, one broadcast per new row after commit, reorg removal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opportunities import services
from opportunities.models import Opportunity
from opportunities.serializers import opportunity_data
from opportunities.services import (
    OpportunityDraft,
    opportunity_delete_from_block,
    opportunity_record,
    opportunity_record_many,
)
from tests.factories import ChainFactory, OpportunityFactory, PoolFactory

pytestmark = pytest.mark.django_db


def draft(pool: Any, block: int, profit: str = "12.5") -> OpportunityDraft:
    return OpportunityDraft(
        chain_id=pool.chain_id,
        pool_id=pool.pk,
        pool_name=pool.name,
        pool_address=pool.address,
        block_number=block,
        block_hash=f"0x{block:064x}",
        imbalance_pct=1.25,
        profit_usd=Decimal(profit),
        profit_native=Decimal("0.0208333333333333333333"),
        reserve0=10**30,
        reserve1=2 * 10**30,
        start_token=pool.token0.address,
        amount_in=10**18,
        amount_out=10**18 + 5,
        profit_raw=5,
        gas_estimate=150_000,
        gas_cost_usd=Decimal("0.09"),
        path_pools=(pool.address, "0x" + "ab" * 20),
        path_tokens=(pool.token0.address, pool.token1.address, pool.token0.address),
    )


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    monkeypatch.setattr(services, "_broadcaster", lambda: messages.append)
    return messages


def test_record_is_idempotent_and_broadcasts_new_rows_once_after_commit(
    sent: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    pool = PoolFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        row, created = opportunity_record(draft=draft(pool, 100))
        assert sent == []  # not before the commit
    assert created and len(callbacks) == 1
    assert sent == [opportunity_data(Opportunity.objects.get(pk=row.pk))]
    stored = Opportunity.objects.get(pk=row.pk)
    assert (stored.reserve0, stored.amount_out, stored.path_pools) == (
        10**30,
        10**18 + 5,
        list(draft(pool, 1).path_pools),
    )
    assert stored.strategy == "2-hop"

    with django_capture_on_commit_callbacks(execute=True):
        again, created = opportunity_record(draft=draft(pool, 100, profit="99"))
        created_many = opportunity_record_many(drafts=[draft(pool, 100), draft(pool, 101), draft(pool, 101)])
    assert not created and again.pk == row.pk and again.profit_usd == Decimal("12.5")  # first write wins
    assert [o.block_number for o in created_many] == [101]
    assert [m["block_number"] for m in sent] == [100, 101]
    assert Opportunity.objects.filter(pool=pool).count() == 2


def test_broadcast_failure_never_loses_the_row(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    def explode(_: dict[str, Any]) -> None:
        raise ConnectionError("redis down")

    monkeypatch.setattr(services, "_broadcaster", lambda: explode)
    pool = PoolFactory()
    with django_capture_on_commit_callbacks(execute=True):
        opportunity_record_many(drafts=[draft(pool, 7)])
    assert Opportunity.objects.filter(pool=pool, block_number=7).exists()


def test_delete_from_block_removes_only_that_chains_later_blocks() -> None:
    bsc, polygon = ChainFactory(chain_id=56), ChainFactory(chain_id=137, name="Polygon")
    pool, other = PoolFactory(chain=bsc), PoolFactory(chain=polygon)
    for block in (10, 11, 12):
        OpportunityFactory(pool=pool, block_number=block)
        OpportunityFactory(pool=other, block_number=block)
    assert opportunity_delete_from_block(chain_id=56, from_block=11) == 2
    assert sorted(Opportunity.objects.filter(chain_id=56).values_list("block_number", flat=True)) == [10]
    assert Opportunity.objects.filter(chain_id=137).count() == 3


def test_signals_carry_new_rows_in_the_transaction_after_commit_and_on_removal(
    sent: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    from chains.signals import detections_committed, detections_removed, detections_written

    seen: list[tuple[str, str, list[int]]] = []

    def receiver(name: str) -> Any:
        def receive(sender: Any, *, kind: str, chain_id: int, rows: list[Any], **_: Any) -> None:
            seen.append((name, kind, [row.block_number for row in rows]))

        return receive

    handlers = {name: receiver(name) for name in ("written", "committed", "removed")}
    detections_written.connect(handlers["written"])
    detections_committed.connect(handlers["committed"])
    detections_removed.connect(handlers["removed"])
    try:
        pool = PoolFactory()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            opportunity_record_many(drafts=[draft(pool, 100), draft(pool, 101)])
        assert seen == [("written", "opportunities", [100, 101])]  # committed only once the commit runs
        for callback in callbacks:
            callback()
        assert seen[-1] == ("committed", "opportunities", [100, 101])
        seen.clear()
        with django_capture_on_commit_callbacks(execute=True):
            opportunity_record_many(drafts=[draft(pool, 100)])  # exists: no signal at all
        assert seen == []
        opportunity_delete_from_block(chain_id=pool.chain_id, from_block=101)
        assert seen == [("removed", "opportunities", [101])]
    finally:
        detections_written.disconnect(handlers["written"])
        detections_committed.disconnect(handlers["committed"])
        detections_removed.disconnect(handlers["removed"])
