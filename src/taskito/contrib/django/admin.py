"""``TaskQueueAdmin``: the taskito pages in the Django admin site, under
``<admin>/taskito/taskqueue/``. Every page goes through ``admin_site.admin_view`` (staff
only, anonymous users are sent to the login page), needs the ``view`` permission of the
``TaskQueue`` model, and retrying a dead letter the ``change`` one (superusers have both)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from taskito.contrib.django import views
from taskito.contrib.django.models import TaskQueue


@admin.register(TaskQueue)
class TaskQueueAdmin(admin.ModelAdmin):
    def get_urls(self) -> list[URLPattern]:
        names = views.URL_NAMES
        return [
            path("", self._view(views.overview), name=names["overview"]),
            path("jobs/", self._view(views.jobs), name=names["jobs"]),
            path("jobs/<str:job_id>/", self._view(views.job_detail), name=names["job"]),
            path("dead-letters/", self._view(views.dead_letters), name=names["dead_letters"]),
            path(
                "dead-letters/<str:dead_id>/retry/",
                self._view(views.retry_dead_letter),
                name=names["retry"],
            ),
        ]

    def _view(self, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def bound(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return view(self, request, *args, **kwargs)

        bound.__name__ = view.__name__
        wrapped: Callable[..., HttpResponse] = self.admin_site.admin_view(bound)
        return wrapped

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
