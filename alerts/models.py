"""Alert rules, their destinations, and one row per delivery with a log of its attempts."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone


class AlertApiKey(models.Model):
    """A key for the alert-rule API. Only its SHA-256 is stored; the key is shown once (``alerts_api_key``)."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters of the key, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "alert API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AlertRule(models.Model):
    class Channel(models.TextChoices):
        OPPORTUNITIES = "opportunities"
        TRANSACTIONS = "transactions"

    class Destination(models.TextChoices):
        WEBHOOK = "webhook", "Generic webhook (signed JSON POST)"
        DISCORD = "discord", "Discord webhook"
        TELEGRAM = "telegram", "Telegram bot chat"

    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    owner = models.ForeignKey(
        AlertApiKey,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rules",
        help_text="The API key that manages this rule; empty for rules made in the admin.",
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # The WebSocket's filters (the same matching), then pool, token and bot address.
    chain_id = models.PositiveBigIntegerField(null=True, blank=True)
    min_profit = models.FloatField(
        null=True, blank=True, help_text="USD (opportunities: profit_usd; transactions: net)."
    )
    max_profit = models.FloatField(null=True, blank=True)
    min_swaps = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Transactions only.")
    pool_address = models.CharField(max_length=42, blank=True, help_text="Matches a pool on the row's path.")
    token_address = models.CharField(max_length=42, blank=True, help_text="Matches a token on the row's path.")
    bot_address = models.CharField(
        max_length=42, blank=True, help_text="Transactions: the sender; opportunities: the capturing bot."
    )
    destination = models.CharField(max_length=16, choices=Destination.choices)
    url = models.URLField(max_length=500, blank=True, help_text="Webhook or Discord webhook URL.")
    secret = models.CharField(
        max_length=128, blank=True, help_text="Webhook HMAC-SHA256 signing secret (generated when left empty)."
    )
    telegram_bot_token = models.CharField(max_length=128, blank=True)
    telegram_chat_id = models.CharField(max_length=64, blank=True)
    max_per_hour = models.PositiveIntegerField(
        default=0, help_text="Immediate messages per clock hour; more are suppressed (0 = no limit)."
    )
    digest_minutes = models.PositiveIntegerField(
        default=0, help_text="0: one message per match; N: one summary message per N minutes."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["channel", "enabled"], name="alertrule_channel_enabled")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        if self.destination == self.Destination.WEBHOOK and not self.secret:
            self.secret = secrets.token_urlsafe(32)
        for field in ("pool_address", "token_address", "bot_address"):
            setattr(self, field, getattr(self, field).strip().lower())
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class AlertDelivery(models.Model):
    """One message to one destination: a matched row, a digest of rows, or a test.

    ``idempotency_key`` is unique: ``<rule>:<kind>:<row id>`` for a matched row, so matching
    the same rows twice (a retried task, the sweeper) never makes a second delivery. It is
    sent with every attempt so a receiver can drop repeats (delivery is at least once).
    """

    class State(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        RETRYING = "retrying"
        SENT = "sent"
        DEAD = "dead", "dead (gave up)"
        SUPPRESSED = "suppressed", "suppressed (rate limit)"
        DIGEST_PENDING = "digest_pending", "waiting for the digest"
        DIGESTED = "digested", "sent in a digest"

    class Kind(models.TextChoices):
        OPPORTUNITIES = "opportunities"
        TRANSACTIONS = "transactions"
        DIGEST = "digest"
        TEST = "test"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    row_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The opportunity or transaction id.")
    idempotency_key = models.CharField(max_length=120, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    payload = models.JSONField(default=dict, help_text="What is sent (the row as the WebSocket sends it).")
    detected_at = models.DateTimeField(null=True, blank=True)
    digest = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="items",
        limit_choices_to={"kind": "digest"},
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "alert deliveries"
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="alertdelivery_state_next"),
            models.Index(fields=["rule", "state", "created_at"], name="alertdelivery_rule_state"),
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class AlertAttempt(models.Model):
    """One HTTP attempt of a delivery: the delivery log shown in the admin."""

    class Outcome(models.TextChoices):
        OK = "ok"
        RETRY = "retry", "failed, will retry"
        FAILED = "failed", "failed for good"

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    error = models.CharField(max_length=300, blank=True)
    retry_after_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number", "id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.outcome}"


class AlertMatchCursor(models.Model):
    """The last row id of a kind the sweeper has matched: rows whose batch was never queued are caught up."""

    kind = models.CharField(max_length=16, unique=True)
    last_row_id = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.kind} ≤ {self.last_row_id}"
