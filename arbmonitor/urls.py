from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from arbmonitor.views import healthz

admin.site.site_header = "ArbMonitor"
admin.site.site_title = "ArbMonitor"
admin.site.index_title = "Opportunities and arbitrage transactions"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("api.urls")),
    path("", include("dashboard.urls")),
]
