from __future__ import annotations

from django.contrib import admin
from django.urls import path

from arbmonitor.views import dashboard, healthz

admin.site.site_header = "ArbMonitor"
admin.site.site_title = "ArbMonitor"
admin.site.index_title = "Opportunities and arbitrage transactions"

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
