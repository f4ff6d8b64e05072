"""Admin: rules (with "send test alert"), deliveries with their attempt log, API keys (read-only)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from alerts import services
from alerts.models import AlertApiKey, AlertAttempt, AlertDelivery, AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "channel", "chain_id", "min_profit", "destination", "digest_minutes", "owner")
    list_filter = ("enabled", "channel", "destination")
    search_fields = ("name", "pool_address", "token_address", "bot_address")
    actions = ["send_test_alert"]
    fieldsets = (
        (None, {"fields": ("name", "enabled", "channel")}),
        (
            "Filters",
            {
                "fields": (
                    "chain_id",
                    "min_profit",
                    "max_profit",
                    "min_swaps",
                    "pool_address",
                    "token_address",
                    "bot_address",
                )
            },
        ),
        ("Destination", {"fields": ("destination", "url", "secret", "telegram_bot_token", "telegram_chat_id")}),
        ("Pace", {"fields": ("max_per_hour", "digest_minutes")}),
        ("Ownership", {"fields": ("owner", "created_at")}),
    )

    @admin.action(description="Send test alert")
    def send_test_alert(self, request: HttpRequest, queryset: QuerySet[AlertRule]) -> None:
        """One real attempt now, in this request; a failure goes on retrying like any delivery."""
        for rule in queryset:
            delivery = services.delivery_test_create(rule=rule)
            report = services.delivery_attempt(delivery_id=delivery.pk)
            if report.state == AlertDelivery.State.SENT:
                self.message_user(request, f"{rule}: test alert sent.", messages.SUCCESS)
                continue
            if report.retry_in is not None:
                from alerts.tasks import deliver

                deliver.apply_async((delivery.pk,), countdown=report.retry_in)
            error = report.result.error if report.result else report.state
            self.message_user(
                request, f"{rule}: test alert not delivered ({error}); state {report.state}.", messages.ERROR
            )


class AlertAttemptInline(admin.TabularInline):
    model = AlertAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "status_code", "outcome", "retry_after_seconds", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(admin.ModelAdmin):
    list_display = ("idempotency_key", "rule", "kind", "state", "attempts", "next_attempt_at", "sent_at", "last_error")
    list_filter = ("state", "kind", "rule__destination")
    search_fields = ("idempotency_key", "rule__name")
    readonly_fields = [f.name for f in AlertDelivery._meta.fields]
    inlines = [AlertAttemptInline]
    actions = ["retry_dead"]
    list_select_related = ("rule",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry dead deliveries now")
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[AlertDelivery]) -> None:
        from alerts.tasks import deliver

        ids = services.delivery_retry_now(delivery_ids=queryset.values_list("pk", flat=True))
        for delivery_id in ids:
            deliver.delay(delivery_id)
        self.message_user(request, f"{len(ids)} dead deliveries queued again.", messages.SUCCESS)


@admin.register(AlertApiKey)
class AlertApiKeyAdmin(admin.ModelAdmin):
    """Keys are made with ``manage.py alerts_api_key NAME`` (the key is shown once); here they can be revoked."""

    list_display = ("name", "prefix", "active", "created_at", "last_used_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
