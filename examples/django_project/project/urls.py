"""The admin site and the orders app."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path
from orders import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("orders/", views.place_order, name="place_order"),
    path("orders/<int:order_id>/", views.order_status, name="order_status"),
]
