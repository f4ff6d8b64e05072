"""Arbitrage transactions that executed on chain, with their exact profit and gas."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chains.models import Chain, RawAmountField


class ArbitrageTransaction(models.Model):
    """One transaction that closed at least one cycle of swaps.

    A transaction can hold several cycles (found separately, see ``cycles``); the
    row carries their totals. ``profit_token``/``profit_raw`` are exact when every
    cycle starts in the same token, and empty otherwise.
    """

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="arbitrage_transactions")
    tx_hash = models.CharField(max_length=66)
    from_address = models.CharField(max_length=42)
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66, blank=True)
    block_timestamp = models.DateTimeField()
    gas_price_gwei = models.DecimalField(max_digits=30, decimal_places=9)
    gas_used = models.PositiveBigIntegerField()
    gas_cost_native = models.DecimalField(max_digits=40, decimal_places=18)
    gas_cost_usd = models.DecimalField(max_digits=30, decimal_places=6)
    swap_count = models.PositiveSmallIntegerField()
    strategy = models.CharField(max_length=32, help_text='"2-hop", "3-hop", …; "2-hop+3-hop" for two cycles.')
    profit_gross_usd = models.DecimalField(max_digits=30, decimal_places=6)
    profit_net_usd = models.DecimalField(max_digits=30, decimal_places=6)
    pools_involved = models.JSONField(default=list)
    tokens_involved = models.JSONField(default=list)
    detected_at = models.DateTimeField(default=timezone.now)
    profit_token = models.CharField(max_length=42, blank=True, help_text="Start token of every cycle, if shared.")
    profit_raw = RawAmountField(null=True, blank=True, help_text="End - start amount, raw units of profit_token.")
    coinbase_transfer_wei = RawAmountField(
        null=True, blank=True, help_text="Native paid to the block producer, when measured."
    )

    class Meta:
        verbose_name = "arbitrage transaction"
        constraints = [models.UniqueConstraint(fields=["chain", "tx_hash"], name="arbtx_unique_chain_hash")]
        indexes = [
            models.Index(fields=["-detected_at", "-id"], name="arbtx_detected"),
            models.Index(fields=["chain", "-detected_at"], name="arbtx_chain_detected"),
            models.Index(fields=["chain", "-profit_net_usd"], name="arbtx_chain_profit"),
            models.Index(fields=["chain", "block_number"], name="arbtx_chain_block"),
            models.Index(fields=["swap_count"], name="arbtx_swap_count"),
            models.Index(fields=["from_address"], name="arbtx_from"),
        ]
        ordering = ["-detected_at", "-id"]

    def __str__(self) -> str:
        return f"{self.tx_hash[:12]}… {self.strategy} ${self.profit_net_usd}"


class ArbitrageCycle(models.Model):
    """One closed cycle of swaps inside an arbitrage transaction, in economic order."""

    transaction = models.ForeignKey(ArbitrageTransaction, on_delete=models.CASCADE, related_name="cycles")
    index = models.PositiveSmallIntegerField()
    start_token = models.CharField(max_length=42)
    start_amount = RawAmountField()
    end_amount = RawAmountField()
    profit_raw = RawAmountField()
    profit_usd = models.DecimalField(max_digits=30, decimal_places=6)
    pools = models.JSONField(default=list)
    tokens = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["transaction", "index"], name="arbcycle_unique_tx_index")]
        ordering = ["transaction_id", "index"]

    def __str__(self) -> str:
        return f"cycle {self.index} of {self.transaction_id}"
