"""The taskito pages of the Django admin, rendered by the real admin site: every page for a
staff user, a redirect to the login page for anyone else, the dead-letter retry through a
real CSRF-checked POST."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

import taskito
from taskito.contrib.django.views import URL_NAMES
from tests.helpers import wait_until
from tests.integrations.django_app.shop.tasks import add, always_fails

ADMIN = "admin:"


def admin_url(name: str, *args: str) -> str:
    return reverse(ADMIN + URL_NAMES[name], args=args)


def html(response: object) -> str:
    return response.content.decode()  # type: ignore[attr-defined]


@pytest.fixture
def finished_jobs(queue: taskito.Queue) -> Iterator[dict[str, taskito.JobResult]]:
    """One complete job and one dead one, run by a real worker that is stopped again."""
    done = add.delay(2, 3)
    dead = always_fails.delay("boom from the test")
    worker = threading.Thread(target=queue.run_worker, name="test-worker")
    worker.start()
    try:
        assert done.result(timeout=20) == 5
        wait_until(lambda: queue.stats()["dead"] == 1, timeout_s=20)
    finally:
        queue.request_shutdown()
        worker.join(timeout=30)
    yield {"done": done, "dead": dead}


def test_the_overview_shows_counts_queues_and_links(
    staff_client: Client, finished_jobs: dict[str, taskito.JobResult]
) -> None:
    response = staff_client.get(admin_url("overview"))
    assert response.status_code == 200
    page = html(response)
    assert '<td class="taskito-count-completed">1</td>' in page
    assert '<td class="taskito-count-dead">1</td>' in page
    assert f'href="{admin_url("jobs")}?queue=default"' in page
    assert f'href="{admin_url("dead_letters")}"' in page
    assert "Task queue" in page and "Django administration" in page


def test_the_admin_index_links_to_the_overview(staff_client: Client, queue: taskito.Queue) -> None:
    page = html(staff_client.get(reverse("admin:index")))
    assert admin_url("overview") in page


def test_the_jobs_list_filters_and_pages(
    staff_client: Client, finished_jobs: dict[str, taskito.JobResult], queue: taskito.Queue
) -> None:
    page = html(staff_client.get(admin_url("jobs")))
    assert finished_jobs["done"].id in page and finished_jobs["dead"].id in page
    only_dead = html(staff_client.get(admin_url("jobs"), {"status": "dead"}))
    assert finished_jobs["dead"].id in only_dead
    assert finished_jobs["done"].id not in only_dead
    by_task = html(staff_client.get(admin_url("jobs"), {"task": add.name}))
    assert finished_jobs["done"].id in by_task and finished_jobs["dead"].id not in by_task

    more = [add.delay(n, n) for n in range(55)]
    first = html(staff_client.get(admin_url("jobs"), {"status": "pending"}))
    second = html(staff_client.get(admin_url("jobs"), {"status": "pending", "page": "2"}))
    shown = set(re.findall(r'/jobs/([0-9a-f-]{36})/"', first + second))
    assert shown == {job.id for job in more}
    assert "?status=pending&amp;page=2" in first
    assert "?status=pending&amp;page=1" in second and "page 2" in second


@pytest.mark.parametrize(
    "query, message",
    [({"status": "lost"}, "Select a valid choice"), ({"page": "0"}, "greater than or equal to 1")],
)
def test_a_bad_filter_is_a_400_that_says_why(
    staff_client: Client, queue: taskito.Queue, query: dict[str, str], message: str
) -> None:
    response = staff_client.get(admin_url("jobs"), query)
    assert response.status_code == 400
    assert message in html(response)


def test_the_job_page_shows_arguments_result_and_errors(
    staff_client: Client, finished_jobs: dict[str, taskito.JobResult]
) -> None:
    done = html(staff_client.get(admin_url("job", finished_jobs["done"].id)))
    assert "<code>(2, 3)</code>" in done
    assert '<td id="taskito-result"><code>5</code></td>' in done
    dead = html(staff_client.get(admin_url("job", finished_jobs["dead"].id)))
    assert "RuntimeError: boom from the test" in dead
    assert "attempt" in dead


def test_an_unknown_job_is_a_404(staff_client: Client, queue: taskito.Queue) -> None:
    assert staff_client.get(admin_url("job", "no-such-job")).status_code == 404


def test_dead_letters_are_listed_and_retried_with_a_csrf_checked_post(
    staff_client: Client, finished_jobs: dict[str, taskito.JobResult], queue: taskito.Queue
) -> None:
    (letter,) = queue.dead_letters()
    page = html(staff_client.get(admin_url("dead_letters")))
    assert "boom from the test" in page and letter["id"] in page
    retry_url = admin_url("retry", letter["id"])
    token = re.search(
        rf'action="{re.escape(retry_url)}"><input type="hidden" name="csrfmiddlewaretoken" '
        r'value="([^"]+)"',
        page,
    )
    assert token is not None, page

    assert staff_client.post(retry_url).status_code == 403  # no CSRF token
    assert queue.dead_letters() == [letter]
    response = staff_client.post(retry_url, {"csrfmiddlewaretoken": token.group(1)}, follow=True)
    assert response.status_code == 200
    (new_job,) = queue.list_jobs(status="pending")
    assert f"Dead letter {letter['id']} retried as job {new_job.id}." in html(response)
    assert queue.dead_letters() == []

    again = staff_client.post(retry_url, {"csrfmiddlewaretoken": token.group(1)}, follow=True)
    assert "it may have been retried already" in html(again)
    assert staff_client.get(retry_url).status_code == 405


EVERY_PAGE = [("overview", ()), ("jobs", ()), ("job", ("x",)), ("dead_letters", ())]


@pytest.mark.parametrize("name, args", EVERY_PAGE)
def test_anonymous_users_are_sent_to_the_login_page(
    queue: taskito.Queue, name: str, args: tuple[str, ...]
) -> None:
    target = admin_url(name, *args)
    response = Client().get(target)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_the_view_permission_get_403_and_no_retry(
    django_project: object, queue: taskito.Queue
) -> None:
    user = User.objects.create_user("clerk", password="x", is_staff=True)
    try:
        client = Client()
        client.force_login(user)
        assert client.get(admin_url("overview")).status_code == 403
        user.user_permissions.add(Permission.objects.get(codename="view_taskqueue"))
        user = User.objects.get(pk=user.pk)  # permissions are cached per instance
        client.force_login(user)
        assert client.get(admin_url("dead_letters")).status_code == 200
        assert client.post(admin_url("retry", "x")).status_code == 403
    finally:
        user.delete()
