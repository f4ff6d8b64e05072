from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from arbmonitor.admin_utils import DetectionAdmin, explorer_link
from transactions.models import ArbitrageCycle, ArbitrageTransaction


class StrategyFilter(admin.SimpleListFilter):
    """Strategies present in the data (2-hop, 3-hop, …), without a scan of the whole table."""

    title = "strategy"
    parameter_name = "strategy"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(f"{n}-hop", f"{n}-hop") for n in range(2, 7)] + [("multi", "several cycles")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ArbitrageTransaction]
    ) -> QuerySet[ArbitrageTransaction]:
        value = self.value()
        if value == "multi":
            return queryset.filter(strategy__contains="+")
        if value:
            return queryset.filter(strategy=value)
        return queryset


class ArbitrageCycleInline(admin.TabularInline):
    model = ArbitrageCycle
    extra = 0
    can_delete = False
    # A tuple: one object for both attributes, typed as each base attribute accepts.
    fields = readonly_fields = (
        "index",
        "start_token",
        "start_amount",
        "end_amount",
        "profit_raw",
        "profit_usd",
        "profitable",
        "pools",
        "tokens",
        "venues",
        "hops",
    )

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SwapCountFilter(admin.SimpleListFilter):
    """Swap counts 2-8 offered as they are, not found by a DISTINCT over every row."""

    title = "swap count"
    parameter_name = "swap_count"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(n), str(n)) for n in range(2, 9)]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ArbitrageTransaction]
    ) -> QuerySet[ArbitrageTransaction]:
        value = self.value()
        return queryset.filter(swap_count=int(value)) if value and value.isdigit() else queryset


@admin.register(ArbitrageTransaction)
class ArbitrageTransactionAdmin(DetectionAdmin):
    list_display = [
        "detected_at",
        "chain",
        "tx_link",
        "from_link",
        "strategy",
        "swap_count",
        "profit_gross_usd",
        "gas_cost_usd",
        "profit_net_usd",
        "outcome",
        "block_number",
    ]
    list_filter = ["chain", "outcome", "price_source", StrategyFilter, SwapCountFilter]
    search_fields = ["=tx_hash", "=from_address", "=contract_address", "pools_involved", "tokens_involved"]
    date_hierarchy = "detected_at"
    ordering = ["-detected_at", "-id"]
    list_select_related = ["chain"]
    readonly_fields = [f.name for f in ArbitrageTransaction._meta.fields]
    inlines = [ArbitrageCycleInline]

    @admin.display(description="transaction", ordering="tx_hash")
    def tx_link(self, obj: ArbitrageTransaction) -> str:
        return explorer_link(obj.chain, "tx", obj.tx_hash)

    @admin.display(description="from")
    def from_link(self, obj: ArbitrageTransaction) -> str:
        return explorer_link(obj.chain, "address", obj.from_address)
