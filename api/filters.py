"""Query filters of the list endpoints (django-filter). A bad value is a 400 naming the parameter.

The names follow the WebSocket filters where they overlap (``chain_id``, ``min_profit``,
``max_profit``, ``min_swaps``); profit means ``profit_usd`` for opportunities and
``profit_net_usd`` for transactions, as in the stream.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db import connection
from django.db.models import BooleanField, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL

from api.addresses import ADDRESS_RE, checksum
from api.links import opportunities_of_token, transactions_through_pool
from chains.models import Pool
from opportunities.models import Opportunity
from transactions.models import ArbitrageTransaction

address_validator = RegexValidator(ADDRESS_RE, "Enter a 0x-prefixed 20-byte hex address.")


class AddressField(forms.CharField):
    default_validators = [address_validator]

    def clean(self, value: Any) -> str | None:
        cleaned = super().clean(value)
        return checksum(cleaned) if cleaned else None


class AddressFilter(django_filters.CharFilter):
    field_class = AddressField


BIGINT_MAX = 2**63 - 1  # the database's integer columns: a larger number is a 400, not an overflow


class IntegerFilter(django_filters.NumberFilter):
    """A whole number from 0 to the columns' maximum (``1.5`` or ``10**30`` is a 400 naming the parameter)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


# Up to this many matching transactions, the GIN index finds them all and they are sorted; beyond, walking
# the newest-first index and checking each row finds a page sooner (a WBNB filter matches most rows).
GIN_MAX_ROWS = 5_000


def json_list_has_any(field: str, values: list[str], *, expected_rows: int | None = 0) -> Q:
    """Rows whose JSON list ``field`` holds any of ``values``: ``?|`` on PostgreSQL.

    ``expected_rows`` (from the aggregates; None: unknown, many) picks the plan: few rows, the GIN
    index; many, the same test written so the GIN index cannot serve it, leaving the planner the
    newest-first index walk.
    """
    if connection.vendor == "postgresql":
        if expected_rows is not None and expected_rows <= GIN_MAX_ROWS:
            return Q(**{f"{field}__has_any_keys": values})
        column = connection.ops.quote_name(field)
        return Q(RawSQL(f"({column} || '[]'::jsonb) ?| %s::text[]", (values,), output_field=BooleanField()))
    query = Q(pk__in=[])
    for value in values:
        query |= Q(**{f"{field}__icontains": value})  # SQLite: the JSON text holds the quoted address
    return query


def _dex_pools(chain_id: int | None, dex: str) -> list[str]:
    pools = Pool.objects.filter(dex__name__iexact=dex)
    if chain_id is not None:
        pools = pools.filter(chain_id=chain_id)
    return list(pools.values_list("address", flat=True)[:5000])


class _Common(django_filters.FilterSet):
    chain_id = IntegerFilter(field_name="chain_id")
    block_min = IntegerFilter(field_name="block_number", lookup_expr="gte")
    block_max = IntegerFilter(field_name="block_number", lookup_expr="lte")
    detected_after = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    detected_before = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="lt")

    def _chain(self) -> int | None:
        value = self.form.cleaned_data.get("chain_id")
        return None if value is None else int(value)


# Filters that also apply to ``api_transactionpool``'s copies of the transaction's columns.
POOL_LINK_FILTERS = {
    "min_profit": "profit_net_usd__gte",
    "max_profit": "profit_net_usd__lte",
    "min_swaps": "swap_count__gte",
    "max_swaps": "swap_count__lte",
}


class TransactionFilter(_Common):
    sender = AddressFilter(field_name="from_address", help_text="The transaction's sender (the bot's EOA).")
    contract = AddressFilter(field_name="contract_address", help_text="The contract the sender called (the bot's).")
    outcome = django_filters.ChoiceFilter(
        choices=ArbitrageTransaction.Outcome.choices, help_text="profit, loss (a losing cycle) or mixed."
    )
    pool = AddressFilter(method="filter_pool", help_text="A pool the transaction swapped through.")
    token = AddressFilter(method="filter_token", help_text="A token in one of its cycles.")
    dex = django_filters.CharFilter(method="filter_dex", help_text="DEX name (e.g. PancakeSwap V2), any pool of it.")
    min_profit = django_filters.NumberFilter(field_name="profit_net_usd", lookup_expr="gte")
    max_profit = django_filters.NumberFilter(field_name="profit_net_usd", lookup_expr="lte")
    min_swaps = IntegerFilter(field_name="swap_count", lookup_expr="gte")
    max_swaps = IntegerFilter(field_name="swap_count", lookup_expr="lte")
    block_after = django_filters.IsoDateTimeFilter(field_name="block_timestamp", lookup_expr="gte")
    block_before = django_filters.IsoDateTimeFilter(field_name="block_timestamp", lookup_expr="lt")

    class Meta:
        model = ArbitrageTransaction
        fields: list[str] = []

    def filter_pool(self, qs: QuerySet[ArbitrageTransaction], name: str, value: str) -> QuerySet[ArbitrageTransaction]:
        # The (pool, time) side table, paged by its index; the profit and swap filters are repeated on the
        # link's copies so its covering index skips the links whose transaction they reject.
        data = self.form.cleaned_data
        link = {lookup: data[param] for param, lookup in POOL_LINK_FILTERS.items() if data.get(param) is not None}
        return transactions_through_pool(qs, value, **link)

    def filter_token(self, qs: QuerySet[ArbitrageTransaction], name: str, value: str) -> QuerySet[ArbitrageTransaction]:
        return qs.filter(json_list_has_any("tokens_involved", [value], expected_rows=transactions_through(token=value)))

    def filter_dex(self, qs: QuerySet[ArbitrageTransaction], name: str, value: str) -> QuerySet[ArbitrageTransaction]:
        pools = _dex_pools(self._chain(), value)
        return qs.filter(json_list_has_any("pools_involved", pools, expected_rows=None)) if pools else qs.none()


def transactions_through(*, pool: str | None = None, token: str | None = None) -> int:
    """All-time count of arbitrage transactions through a pool or token, from the daily buckets."""
    from api.models import PoolBucket, Span, TokenBucket

    rows = (
        PoolBucket.objects.filter(pool=pool, span=Span.DAY)
        if pool is not None
        else TokenBucket.objects.filter(token=token, span=Span.DAY)
    )
    return int(rows.aggregate(n=Sum("tx_count"))["n"] or 0)


class OpportunityFilter(_Common):
    pool = AddressFilter(field_name="pool_address", help_text="The pool the opportunity is on.")
    token = AddressFilter(method="filter_token", help_text="token0 or token1 of the pool.")
    dex = django_filters.CharFilter(field_name="pool__dex__name", lookup_expr="iexact")
    captured = django_filters.TypedChoiceFilter(
        field_name="captured", choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true"
    )
    captured_by = AddressFilter(field_name="captured_by", help_text="The sender of the transaction that took it.")
    min_profit = django_filters.NumberFilter(field_name="profit_usd", lookup_expr="gte")
    max_profit = django_filters.NumberFilter(field_name="profit_usd", lookup_expr="lte")

    class Meta:
        model = Opportunity
        fields: list[str] = []

    def filter_token(self, qs: QuerySet[Opportunity], name: str, value: str) -> QuerySet[Opportunity]:
        return opportunities_of_token(qs, value)  # the (token, time) side table, paged by its index
