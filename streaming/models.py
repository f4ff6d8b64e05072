"""API keys for the stream: only a hash of each key is stored."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models


class ApiKey(models.Model):
    """A client's key. The key itself is shown once, when it is created (admin or ``api_key_create``)."""

    name = models.CharField(max_length=100, help_text="Who holds this key (for you; never sent to clients).")
    prefix = models.CharField(max_length=16, editable=False, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True, help_text="Inactive keys are refused at connect.")
    max_connections = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Open connections with this key, all web processes."
    )
    max_subscriptions = models.PositiveIntegerField(
        default=32, validators=[MinValueValidator(1)], help_text="Subscriptions per connection with this key."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
