from __future__ import annotations

from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.home, name="dashboard"),
    path("search", views.search, name="dashboard-search"),
    path("tx/<int:pk>", views.transaction_page, name="dashboard-transaction"),
    path("bot/<str:address>", views.bot_page, name="dashboard-bot"),
    path("pool/<str:address>", views.pool_page, name="dashboard-pool"),
]
