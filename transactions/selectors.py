"""Reads for executed arbitrage transactions."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet

from transactions.models import ArbitrageTransaction


def transaction_list(
    *,
    chain_id: int | None = None,
    min_profit_usd: Decimal | float | None = None,
    max_profit_usd: Decimal | float | None = None,
    min_swaps: int | None = None,
    from_address: str | None = None,
) -> QuerySet[ArbitrageTransaction]:
    """Stored arbitrage transactions, newest first, filtered like a stream subscription (net profit)."""
    qs = ArbitrageTransaction.objects.all()
    if chain_id is not None:
        qs = qs.filter(chain_id=chain_id)
    if min_profit_usd is not None:
        qs = qs.filter(profit_net_usd__gte=Decimal(str(min_profit_usd)))
    if max_profit_usd is not None:
        qs = qs.filter(profit_net_usd__lte=Decimal(str(max_profit_usd)))
    if min_swaps is not None:
        qs = qs.filter(swap_count__gte=min_swaps)
    if from_address is not None:
        qs = qs.filter(from_address__iexact=from_address)
    return qs
