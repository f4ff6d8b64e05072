"""Arbitrage transactions that executed on chain, with their exact profit and gas."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chains.models import Chain, RawAmountField


class ArbitrageTransaction(models.Model):
    """One transaction that closed at least one cycle of swaps.

    A transaction can hold several cycles (see ``cycles``). What the searcher (the
    sender and the contract it called) actually gained is measured from the
    transaction's token flows, per token, in ``profits``; ``profit_token`` /
    ``profit_raw`` repeat it when it gained in exactly one token. USD figures
    are at the parent block's state (``price_source``); an unpriced token has a
    null ``usd`` in ``profits`` and adds nothing to ``profit_gross_usd``.
    """

    class Outcome(models.TextChoices):
        PROFIT = "profit", "Profit"
        LOSS = "loss", "Loss"
        MIXED = "mixed", "Mixed (gains and losses in different tokens)"

    class PriceSource(models.TextChoices):
        PARENT_BLOCK = "parent_block", "Pools at the parent block"
        UNAVAILABLE = "unavailable", "No state at the parent block: unpriced"
        BLOCK_END = "block_end", "Pools at the end of the block (rows stored before flows)"

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
        null=True,
        blank=True,
        help_text="Native coin the searcher paid the block's fee recipient, from a call trace; empty: not measured.",
    )
    contract_address = models.CharField(
        max_length=42, blank=True, default="", help_text="The contract the sender called (the transaction's `to`)."
    )
    venues = models.JSONField(default=list, blank=True, help_text="Protocol family of each pool in pools_involved.")
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.PROFIT)
    profits = models.JSONField(
        default=list, blank=True, help_text='Per token: [{"token", "raw" (exact, a string), "usd" (null: unpriced)}].'
    )
    builder_payments = models.JSONField(
        default=list,
        blank=True,
        help_text='Paid to the fee recipient: [{"token" ("native" or an address), "raw", "usd"}]; tokens from logs.',
    )
    builder_payment_usd = models.DecimalField(
        max_digits=30, decimal_places=6, null=True, blank=True, help_text="Empty: not measured or unpriced."
    )
    price_source = models.CharField(max_length=16, choices=PriceSource.choices, default=PriceSource.PARENT_BLOCK)

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
            models.Index(fields=["contract_address"], name="arbtx_contract"),
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
    profit_raw = RawAmountField(help_text="end - start, raw units of start_token; negative for a losing cycle.")
    profit_usd = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    pools = models.JSONField(default=list)
    tokens = models.JSONField(default=list)
    venues = models.JSONField(default=list, blank=True, help_text="Protocol family of each hop.")
    hops = models.JSONField(
        default=list,
        blank=True,
        help_text='Per hop: {"pool", "venue", "token_in", "amount_in", "token_out", "amount_out"} (raw, strings).',
    )
    profitable = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["transaction", "index"], name="arbcycle_unique_tx_index")]
        ordering = ["transaction_id", "index"]

    def __str__(self) -> str:
        return f"cycle {self.index} of {self.transaction_id}"
