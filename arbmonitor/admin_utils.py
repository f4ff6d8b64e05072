"""Links from admin lists to the chain's block explorer."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html

from chains.models import Chain


def short_hex(value: str, head: int = 10, tail: int = 6) -> str:
    return value if len(value) <= head + tail + 1 else f"{value[:head]}…{value[-tail:]}"


def explorer_link(chain: Chain, kind: str, value: str | None) -> str:
    """An <a> to the explorer page of an address/tx/block, or the plain value when no explorer is set."""
    if not value:
        return "-"
    url = chain.explorer_link(kind, value)
    if url is None:
        return format_html('<code title="{}">{}</code>', value, short_hex(value))
    return format_html(
        '<a href="{}" target="_blank" rel="noopener" title="{}"><code>{}</code></a>', url, value, short_hex(value)
    )


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP`` + 1 rows (a LIMITed subquery), so a changelist page never scans a big table.

    Past the cap the admin shows "10001" results and pages up to there; filters narrow it down.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        rows = cast("QuerySet[Any]", self.object_list)
        return rows[: self.CAP + 1].count()


class DetectionAdmin(admin.ModelAdmin):
    """Detections come from the chain: browsable and deletable, never edited or added by hand."""

    show_full_result_count = False  # COUNT(*) over millions of rows on every page is the slow part
    list_per_page = 50
    paginator = CappedCountPaginator

    def __init__(self, model: type[Model], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)
        # The date hierarchy's first level is SELECT DISTINCT year over the whole table (seconds at 10M rows);
        # the same date field as a list filter (today / past 7 days / this month / this year) is index ranges.
        self.date_filter_field = self.date_hierarchy
        self.__dict__["date_hierarchy"] = None

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters: list[Any] = list(super().get_list_filter(request))
        if self.date_filter_field:
            filters.append((self.date_filter_field, admin.DateFieldListFilter))
        return filters

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
