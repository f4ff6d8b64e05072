from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api import views

router = DefaultRouter()
router.register("opportunities", views.OpportunityViewSet, basename="opportunity")
router.register("transactions", views.TransactionViewSet, basename="transaction")

urlpatterns = [
    path("stats/", views.StatsView.as_view(), name="api-stats"),
    path("series/", views.SeriesView.as_view(), name="api-series"),
    path("leaderboard/", views.LeaderboardView.as_view(), name="api-leaderboard"),
    path("search/", views.SearchView.as_view(), name="api-search"),
    path("chains/", views.ChainsView.as_view(), name="api-chains"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include(router.urls)),
]
