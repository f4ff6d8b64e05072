from __future__ import annotations

from django.contrib import admin

from arbmonitor.admin_utils import DetectionAdmin, explorer_link
from opportunities.models import Opportunity


@admin.register(Opportunity)
class OpportunityAdmin(DetectionAdmin):
    list_display = [
        "detected_at",
        "chain",
        "pool_name",
        "dex_name",
        "pool_link",
        "profit_usd",
        "imbalance_pct",
        "strategy",
        "venue_list",
        "block_number",
        "captured",
    ]
    # RelatedFieldListFilter lists the DEX table; RelatedOnly would run a DISTINCT over every opportunity.
    list_filter = ["chain", ("pool__dex", admin.RelatedFieldListFilter), "captured", "gas_price_source"]
    search_fields = ["=pool_address", "pool_name", "pool__token0__symbol", "pool__token1__symbol", "=capture_tx_hash"]
    date_hierarchy = "detected_at"
    ordering = ["-detected_at", "-id"]
    list_select_related = ["chain", "pool__dex"]
    readonly_fields = [f.name for f in Opportunity._meta.fields]

    @admin.display(description="DEX", ordering="pool__dex__name")
    def dex_name(self, obj: Opportunity) -> str:
        return obj.pool.dex.name if obj.pool.dex else "-"

    @admin.display(description="venues")
    def venue_list(self, obj: Opportunity) -> str:
        return " → ".join(obj.venues or []) or "-"

    @admin.display(description="pool")
    def pool_link(self, obj: Opportunity) -> str:
        return explorer_link(obj.chain, "address", obj.pool_address)
