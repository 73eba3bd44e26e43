"""The admin pages of the project's Queue: overview (counts, queues, workers), jobs (filters,
pages), one job (its fields, arguments, result, errors, logs), dead letters (with a retry
button that POSTs with Django's CSRF token). Each view takes the ``TaskQueueAdmin`` that
serves it, which the admin site has already wrapped in ``admin_view`` (staff only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

import taskito
from taskito.contrib.django.forms import JobFilterForm, PageForm
from taskito.contrib.django.project_queue import get_queue

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PAGE_SIZE = 50
STAT_KEYS = ("pending", "running", "completed", "failed", "dead", "cancelled")
TEMPLATES = "taskito/admin/"
#: The URL names, after the admin site's namespace: ``admin:taskito_taskqueue_jobs``.
URL_NAMES = {
    "overview": "taskito_taskqueue_changelist",
    "jobs": "taskito_taskqueue_jobs",
    "job": "taskito_taskqueue_job",
    "dead_letters": "taskito_taskqueue_dead_letters",
    "retry": "taskito_taskqueue_retry",
}


def url(model_admin: ModelAdmin, name: str, *args: str) -> str:
    return str(reverse(f"{model_admin.admin_site.name}:{URL_NAMES[name]}", args=args))


def _when(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _page(
    model_admin: ModelAdmin, request: HttpRequest, template: str, title: str, **context: Any
) -> TemplateResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    site = model_admin.admin_site
    links = {name: url(model_admin, name) for name in ("overview", "jobs", "dead_letters")}
    full = {
        **site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "links": {**links, "index": reverse(f"{site.name}:index")},
        **context,
    }
    status = 400 if "form" in context and context["form"].errors else 200
    return TemplateResponse(request, TEMPLATES + template, full, status=status)


def overview(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    queue = get_queue()
    stats = queue.stats()
    counts = [(key, int(stats.get(key, 0))) for key in STAT_KEYS]
    per_queue = queue.stats_all_queues()
    paused = set(queue.paused_queues())
    queues = [
        {
            "name": name,
            "counts": [per_queue.get(name, {}).get(key, 0) for key in STAT_KEYS],
            "paused": name in paused,
            "jobs_url": f"{url(model_admin, 'jobs')}?{urlencode({'queue': name})}",
        }
        for name in sorted(set(per_queue) | paused)
    ]
    workers = [
        {**worker, "last_seen": _when(worker.get("last_heartbeat"))} for worker in queue.workers()
    ]
    return _page(
        model_admin,
        request,
        "overview.html",
        "Task queue",
        counts=counts,
        total=sum(count for _, count in counts),
        stat_keys=STAT_KEYS,
        queues=queues,
        workers=workers,
    )


def jobs(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    form = JobFilterForm(request.GET)
    rows: list[dict[str, Any]] = []
    page_number, has_next = 1, False
    if form.is_valid():
        page_number = form.page_number()
        filters = form.filters()
        found = get_queue().list_jobs_filtered(
            status=filters["status"],
            queue=filters["queue"],
            task_name=filters["task_name"],
            limit=PAGE_SIZE + 1,
            offset=(page_number - 1) * PAGE_SIZE,
        )
        has_next = len(found) > PAGE_SIZE
        rows = [_job_row(model_admin, job.to_dict(refresh=False)) for job in found[:PAGE_SIZE]]
    return _page(
        model_admin,
        request,
        "jobs.html",
        "Jobs",
        form=form,
        rows=rows,
        paging=_paging(request, page_number, has_next),
    )


def _job_row(model_admin: ModelAdmin, job: dict[str, Any]) -> dict[str, Any]:
    return {
        **job,
        "url": url(model_admin, "job", job["id"]),
        "created": _when(job["created_at"]),
        "completed": _when(job["completed_at"]),
    }


def _paging(request: HttpRequest, page_number: int, has_next: bool) -> dict[str, Any]:
    """The page number and the query strings of the previous and next pages (filters kept)."""

    def link(number: int) -> str:
        query = request.GET.copy()
        query["page"] = str(number)
        return "?" + str(query.urlencode())

    return {
        "number": page_number,
        "previous": link(page_number - 1) if page_number > 1 else None,
        "next": link(page_number + 1) if has_next else None,
    }


def job_detail(model_admin: ModelAdmin, request: HttpRequest, job_id: str) -> HttpResponse:
    queue = get_queue()
    job = queue.get_job(job_id)
    if job is None:
        raise Http404(f"no job {job_id!r}")
    record = _job_row(model_admin, job.to_dict(refresh=False))
    return _page(
        model_admin,
        request,
        "job.html",
        f"Job {job_id}",
        job=record,
        started=_when(record["started_at"]),
        arguments=_arguments(queue, job_id),
        result=_result(job),
        errors=[{**e, "when": _when(e.get("failed_at"))} for e in queue.job_errors(job_id)],
        logs=[{**line, "when": _when(line.get("logged_at"))} for line in queue.task_logs(job_id)],
    )


def _arguments(queue: taskito.Queue, job_id: str) -> dict[str, Any]:
    """The decoded arguments as text, or why they cannot be shown."""
    try:
        decoded = queue.job_arguments(job_id)
    except taskito.SerializationError as exc:  # SignatureError included
        return {"error": str(exc)}
    if decoded is None:
        return {"error": "the job is gone"}
    args, kwargs = decoded
    return {"args": repr(tuple(args)), "kwargs": repr(dict(kwargs or {}))}


def _result(job: taskito.JobResult) -> dict[str, Any] | None:
    if job.status != "complete":
        return None
    try:
        return {"value": repr(job.result(timeout=1.0))}
    except taskito.SerializationError as exc:
        return {"error": str(exc)}


def dead_letters(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    form = PageForm(request.GET)
    rows: list[dict[str, Any]] = []
    page_number, has_next = 1, False
    if form.is_valid():
        page_number = form.page_number()
        found = get_queue().dead_letters(limit=PAGE_SIZE + 1, offset=(page_number - 1) * PAGE_SIZE)
        has_next = len(found) > PAGE_SIZE
        rows = [
            {
                **letter,
                "failed": _when(letter.get("failed_at")),
                "summary": _last_line(letter.get("error")),
                "retry_url": url(model_admin, "retry", letter["id"]),
                "job_url": url(model_admin, "job", letter["original_job_id"]),
            }
            for letter in found[:PAGE_SIZE]
        ]
    return _page(
        model_admin,
        request,
        "dead_letters.html",
        "Dead letters",
        form=form,
        rows=rows,
        can_retry=model_admin.has_change_permission(request),
        paging=_paging(request, page_number, has_next),
    )


def _last_line(error: str | None) -> str:
    """What a traceback ends with: the exception and its message."""
    lines = [line for line in (error or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def retry_dead_letter(model_admin: ModelAdmin, request: HttpRequest, dead_id: str) -> HttpResponse:
    """Enqueue the letter again (POST; the change permission), then back to the list with a
    message saying what happened."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    try:
        new_id = get_queue().retry_dead(dead_id)
    except taskito.SignatureError as exc:
        messages.error(request, f"Dead letter {dead_id} was not retried: {exc}")
    except taskito.StorageError as exc:
        if not str(exc).startswith("dead letter not found"):
            raise
        messages.error(request, f"No dead letter {dead_id}: it may have been retried already.")
    else:
        messages.success(request, f"Dead letter {dead_id} retried as job {new_id}.")
    return HttpResponseRedirect(url(model_admin, "dead_letters"))


__all__ = ["URL_NAMES", "dead_letters", "job_detail", "jobs", "overview", "retry_dead_letter"]
