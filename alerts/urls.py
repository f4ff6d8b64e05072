from __future__ import annotations

from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("rules", views.rules, name="rules"),
    path("rules/<int:rule_id>", views.rule_detail, name="rule"),
    path("rules/<int:rule_id>/deliveries", views.rule_deliveries, name="rule-deliveries"),
    path("rules/<int:rule_id>/test", views.rule_test, name="rule-test"),
]
