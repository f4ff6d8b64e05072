"""Arbitrage opportunities: a pool whose best cycle pays now, per block."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chains.models import Chain, Pool, RawAmountField
from opportunities.gas import GasPriceSource

GAS_PRICE_SOURCES = [(s.value, s.value.replace("_", " ")) for s in GasPriceSource]


class Opportunity(models.Model):
    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="opportunities")
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="opportunities")
    # The spec's fields, denormalised so a notification and a changelist need no joins.
    pool_name = models.CharField(max_length=140)
    pool_address = models.CharField(max_length=42)
    imbalance_pct = models.FloatField(null=True, blank=True, help_text="Pool price vs the reference price, %.")
    profit_usd = models.DecimalField(max_digits=30, decimal_places=6, help_text="Net of the estimated gas cost.")
    profit_native = models.DecimalField(max_digits=40, decimal_places=18)
    reserve0 = RawAmountField()
    reserve1 = RawAmountField()
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    captured = models.BooleanField(default=False)
    # NULL, not "", until captured: the spec sends null for both.
    captured_by = models.CharField(max_length=42, null=True, blank=True)  # noqa: DJ001
    capture_tx_hash = models.CharField(max_length=66, null=True, blank=True)  # noqa: DJ001
    captured_at = models.DateTimeField(null=True, blank=True)
    # The best cycle through the pool, in swap order, and its exact amounts.
    path_pools = models.JSONField(default=list, help_text="Pool addresses in swap order.")
    path_tokens = models.JSONField(default=list, help_text="Token addresses, start … start.")
    venues = models.JSONField(
        default=list, blank=True, help_text="Each hop's protocol family (uniswap_v2, uniswap_v3, pancakeswap_v3, ...)."
    )
    start_token = models.CharField(max_length=42, blank=True)
    amount_in = RawAmountField(help_text="Optimal input, raw units of the start token.")
    amount_out = RawAmountField(help_text="What the cycle returns for amount_in.")
    profit_raw = RawAmountField(help_text="amount_out - amount_in, raw units of the start token (before gas).")
    gas_estimate = models.PositiveBigIntegerField(default=0, help_text="Gas units assumed for the cycle.")
    gas_cost_usd = models.DecimalField(max_digits=30, decimal_places=6, default=0)
    gas_price_wei = RawAmountField(null=True, blank=True, help_text="The block's gas price the gas cost is at (wei).")
    gas_price_source = models.CharField(
        max_length=16,
        blank=True,
        default="",
        choices=GAS_PRICE_SOURCES,
        help_text="What set the gas price: the block's observed tip, a floor, the base fee alone or the last "
        "price seen (empty: stored before the field existed).",
    )

    class Meta:
        verbose_name_plural = "opportunities"
        constraints = [models.UniqueConstraint(fields=["pool", "block_number"], name="opportunity_unique_pool_block")]
        indexes = [
            models.Index(fields=["-detected_at", "-id"], name="opp_detected"),
            models.Index(fields=["chain", "-detected_at"], name="opp_chain_detected"),
            models.Index(fields=["chain", "-profit_usd"], name="opp_chain_profit"),
            models.Index(fields=["chain", "block_number"], name="opp_chain_block"),
        ]
        ordering = ["-detected_at", "-id"]

    def __str__(self) -> str:
        return f"{self.pool_name} @ {self.block_number}: ${self.profit_usd}"

    @property
    def strategy(self) -> str:
        hops = max(len(self.path_pools), 0)
        return f"{hops}-hop" if hops else ""
