"""The query strings of the admin pages, as Django forms: the jobs list's filters and the
page number of both lists. A bad value is a form error the page shows (status 400)."""

from __future__ import annotations

from django import forms

#: Job statuses a filter takes (``JobStatus`` values).
STATUSES = ("pending", "running", "complete", "failed", "dead", "cancelled")
#: The largest page number a list takes (50 rows a page: five million rows deep).
MAX_PAGE = 100_000


class PageForm(forms.Form):
    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)

    def page_number(self) -> int:
        return int(self.cleaned_data.get("page") or 1)


class JobFilterForm(PageForm):
    status = forms.ChoiceField(
        required=False, choices=[("", "any status"), *((s, s) for s in STATUSES)]
    )
    queue = forms.CharField(required=False, max_length=255, strip=True)
    task = forms.CharField(required=False, max_length=500, strip=True)

    def filters(self) -> dict[str, str | None]:
        """``list_jobs_filtered`` keywords; an empty field filters nothing."""
        data = self.cleaned_data
        return {
            "status": data.get("status") or None,
            "queue": data.get("queue") or None,
            "task_name": data.get("task") or None,
        }


__all__ = ["MAX_PAGE", "STATUSES", "JobFilterForm", "PageForm"]
