"""The read-only REST API under /api/v1/ (thin: every figure comes from api.selectors)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from api import selectors
from api.filters import BIGINT_MAX, OpportunityFilter, TransactionFilter
from api.links import KEYSET_AT
from api.serializers import (
    OpportunityDetailSerializer,
    OpportunitySerializer,
    TransactionDetailSerializer,
    TransactionSerializer,
)
from opportunities.models import Opportunity
from transactions.models import ArbitrageTransaction


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler; a bad ``cursor`` is the client's mistake (400 naming it), not a missing page."""
    if isinstance(exc, NotFound) and "cursor" in str(exc.detail).lower():
        exc = ValidationError({"cursor": ["Invalid cursor."]})
    return drf_exception_handler(exc, context)


class NewestFirst(CursorPagination):
    """Newest first; a list filtered through a side table (``api.links``) pages by the link's copy of
    ``detected_at``, so its index gives the order and the cursor's position."""

    ordering = ("-detected_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> tuple[str, ...]:
        if KEYSET_AT in queryset.query.annotations:
            return (f"-{KEYSET_AT}", "-id")
        return self.ordering

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({"page_size": [f"Must be an integer from 1 to {self.max_page_size}."]})
        return int(raw)


class OpportunityViewSet(viewsets.ReadOnlyModelViewSet):
    """Stored opportunities, newest first (the stream's ``opportunity`` payloads)."""

    queryset = Opportunity.objects.all()
    filterset_class = OpportunityFilter
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[Opportunity]:
        if self.action == "retrieve":
            return Opportunity.objects.select_related("pool__dex")
        return Opportunity.objects.all()

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return OpportunityDetailSerializer if self.action == "retrieve" else OpportunitySerializer


class TransactionViewSet(viewsets.ReadOnlyModelViewSet):
    """Stored arbitrage transactions, newest first (the stream's ``transaction`` payloads)."""

    queryset = ArbitrageTransaction.objects.all()
    filterset_class = TransactionFilter
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[ArbitrageTransaction]:
        if self.action == "retrieve":
            return ArbitrageTransaction.objects.prefetch_related("cycles")
        return ArbitrageTransaction.objects.all()

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return TransactionDetailSerializer if self.action == "retrieve" else TransactionSerializer


class PeriodQuery(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(selectors.PERIODS), default="1d")
    chain_id = serializers.IntegerField(required=False, min_value=0, max_value=BIGINT_MAX)


class LeaderboardQuery(PeriodQuery):
    limit = serializers.IntegerField(required=False, default=10, min_value=1, max_value=100)


class SearchQuery(serializers.Serializer):
    q = serializers.CharField(max_length=100, trim_whitespace=True)


class SeriesQuery(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(selectors.PERIODS), default="1d")
    chain_id = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX)


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)  # 400 {"period": ["..."]}
    return dict(query.validated_data)


class StatsView(APIView):
    """Per chain over 1h/1d/7d/30d: count, gross, gas, builder payments, net, captured share."""

    @extend_schema(parameters=[PeriodQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        query = _query(PeriodQuery, request)
        return Response({"results": selectors.chain_stats(period=query["period"], chain_id=query.get("chain_id"))})


class SeriesView(APIView):
    """A chain's net profit and transaction count per bucket (hourly; daily for 30d), for the chart."""

    @extend_schema(parameters=[SeriesQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        query = _query(SeriesQuery, request)
        return Response(
            {
                "chain_id": query["chain_id"],
                "period": query["period"],
                "results": selectors.profit_series(chain_id=query["chain_id"], period=query["period"]),
            }
        )


class LeaderboardView(APIView):
    """Top bots by net profit; top pools and tokens by arbitrage transactions, per period."""

    @extend_schema(parameters=[LeaderboardQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        query = _query(LeaderboardQuery, request)
        return Response(
            selectors.leaderboard(period=query["period"], chain_id=query.get("chain_id"), limit=query["limit"])
        )


class SearchView(APIView):
    """Recognises a transaction hash, a block number, a pool/token/bot address or a token symbol."""

    @extend_schema(parameters=[SearchQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(selectors.search(_query(SearchQuery, request)["q"]))


class ChainsView(APIView):
    """Per chain: head, scan cursors and their lag, the latest stored block and its time."""

    @extend_schema(
        parameters=[OpenApiParameter("format", str, required=False, exclude=True)], responses=OpenApiTypes.OBJECT
    )
    def get(self, request: Request) -> Response:
        return Response({"results": selectors.chains_status()})
