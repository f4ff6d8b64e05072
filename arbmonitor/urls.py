from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from arbmonitor.views import healthz

admin.site.site_header = "ArbMonitor"
admin.site.site_title = "ArbMonitor"
admin.site.index_title = "Opportunities and arbitrage transactions"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
