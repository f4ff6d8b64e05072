"""Admin for the chain registry and the scanners' cursors (with their lag)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from arbmonitor.admin_utils import explorer_link
from chains.models import Chain, ConcentratedPoolState, Dex, Pool, ScanCursor, Token


@admin.register(Chain)
class ChainAdmin(admin.ModelAdmin):
    list_display = ["chain_id", "name", "native_symbol", "block_time", "enabled"]
    list_filter = ["enabled"]


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    list_display = ["symbol", "chain", "address_link", "decimals", "fee_on_transfer"]
    list_filter = ["chain", "fee_on_transfer"]
    search_fields = ["symbol", "=address"]
    list_select_related = ["chain"]
    show_full_result_count = False

    @admin.display(description="address")
    def address_link(self, obj: Token) -> str:
        return explorer_link(obj.chain, "address", obj.address)


@admin.register(Dex)
class DexAdmin(admin.ModelAdmin):
    list_display = ["name", "chain", "family", "factory_address", "fee_bps", "fee_per_pair"]
    list_filter = ["chain", "family"]
    search_fields = ["name", "=factory_address"]


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):
    list_display = [
        "__str__", "chain", "dex", "venue", "address_link", "reserve0", "reserve1", "last_block", "fee_bps",
        "fee_read_block",
    ]  # fmt: skip
    list_filter = ["chain", "dex__family", "dex"]
    search_fields = ["=address", "token0__symbol", "token1__symbol"]
    list_select_related = ["chain", "dex", "token0", "token1"]
    raw_id_fields = ["token0", "token1"]
    show_full_result_count = False

    @admin.display(description="address")
    def address_link(self, obj: Pool) -> str:
        return explorer_link(obj.chain, "address", obj.address)

    @admin.display(description="venue", ordering="dex__family")
    def venue(self, obj: Pool) -> str:
        return obj.dex.family if obj.dex else "-"


@admin.register(ConcentratedPoolState)
class ConcentratedPoolStateAdmin(admin.ModelAdmin):
    """V3 / Algebra pools' state as the scanner keeps it (read-only: the scanner writes it)."""

    list_display = ["pool", "fee", "tick_spacing", "tick", "liquidity", "tick_count", "block_number"]
    list_filter = ["pool__chain", "pool__dex"]
    search_fields = ["=pool__address"]
    list_select_related = ["pool__token0", "pool__token1"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: ConcentratedPoolState | None = None) -> list[str]:
        return [f.name for f in ConcentratedPoolState._meta.fields]

    @admin.display(description="initialized ticks")
    def tick_count(self, obj: ConcentratedPoolState) -> int:
        return len(obj.ticks or {})


@admin.register(ScanCursor)
class ScanCursorAdmin(admin.ModelAdmin):
    """Where each scanner stands; lag = head - cursor as of its last run."""

    list_display = ["chain", "kind", "block_number", "head_block_number", "lag", "updated_at"]
    list_filter = ["chain", "kind"]
    list_select_related = ["chain"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: ScanCursor | None = None) -> list[str]:
        return ["chain", "kind", "block_number", "block_hash", "head_block_number", "updated_at"]
