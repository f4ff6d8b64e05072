from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from arbmonitor.views import healthz, metrics_view, readyz

admin.site.site_header = "ArbMonitor"
admin.site.site_title = "ArbMonitor"
admin.site.index_title = "Opportunities and arbitrage transactions"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/alerts/", include("alerts.urls")),
    path("api/v1/", include("api.urls")),
    path("", include("dashboard.urls")),
]
