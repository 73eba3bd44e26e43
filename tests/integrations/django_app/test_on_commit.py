"""``delay_on_commit`` and ``apply_async_on_commit`` against real transactions of the test
project's SQLite database: the job exists once the transaction commits, never when it rolls
back, and at once outside a transaction."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

import taskito
from taskito.contrib.django import apply_async_on_commit, delay_on_commit
from tests.integrations.django_app.shop.models import Order
from tests.integrations.django_app.shop.tasks import add, send_receipt


class Rollback(Exception):
    pass


def test_the_job_is_enqueued_when_the_transaction_commits(queue: taskito.Queue) -> None:
    with transaction.atomic():
        order = Order.objects.create(total=42)
        delay_on_commit(send_receipt, order.pk)
        assert queue.stats()["pending"] == 0, "enqueued before the commit"
    (job,) = queue.list_jobs(queue="mail")
    assert job.to_dict()["task_name"] == send_receipt.name
    assert queue.job_arguments(job.id) == ((order.pk,), {})


def test_a_rollback_enqueues_nothing(queue: taskito.Queue) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        order = Order.objects.create(total=7)
        delay_on_commit(send_receipt, order.pk)
        send_receipt.apply_async_on_commit((order.pk,), priority=5)
        raise Rollback
    assert queue.stats() == dict.fromkeys(queue.stats(), 0)
    assert not Order.objects.filter(total=7).exists()


def test_a_rolled_back_savepoint_drops_only_its_own_jobs(queue: taskito.Queue) -> None:
    with transaction.atomic():
        delay_on_commit(add, 1, 1)
        with pytest.raises(Rollback), transaction.atomic():
            delay_on_commit(add, 2, 2)
            raise Rollback
    (job,) = queue.list_jobs()
    assert queue.job_arguments(job.id) == ((1, 1), {})


def test_outside_a_transaction_the_job_is_enqueued_at_once(queue: taskito.Queue) -> None:
    add.delay_on_commit(3, 4)
    (job,) = queue.list_jobs()
    assert queue.job_arguments(job.id) == ((3, 4), {})


def test_apply_async_on_commit_passes_options_and_the_database_alias(
    queue: taskito.Queue,
) -> None:
    with transaction.atomic(using="default"):
        apply_async_on_commit(add, (5, 6), priority=9, queue="urgent", using="default")
        assert queue.stats()["pending"] == 0
    (job,) = queue.list_jobs(queue="urgent")
    assert job.to_dict(refresh=False)["priority"] == 9


def test_a_plain_task_wrapper_works_too(queue: taskito.Queue) -> None:
    wrapper = add.wrapper
    assert isinstance(wrapper, taskito.TaskWrapper)
    with transaction.atomic():
        delay_on_commit(wrapper, 8, 9)
    assert queue.stats()["pending"] == 1


def test_bad_calls_fail_inside_the_transaction(queue: taskito.Queue) -> None:
    with pytest.raises(TypeError, match="expected a task"):
        delay_on_commit(print, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument 'priorty'"):
        apply_async_on_commit(add, (1, 2), priorty=3)
    with pytest.raises(TypeError, match="args must be a tuple or list"):
        apply_async_on_commit(add, "12")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="doesn't exist"):
        apply_async_on_commit(add, (1, 2), using="no-such-database")
    assert queue.stats()["pending"] == 0


def test_a_committed_job_runs_in_a_worker_that_uses_the_orm(queue: taskito.Queue) -> None:
    with transaction.atomic():
        order = Order.objects.create(total=99)
        send_receipt.delay_on_commit(order.pk)
    (job,) = queue.list_jobs(queue="mail")
    worker = threading.Thread(target=queue.run_worker, kwargs={"queues": ["mail"]})
    worker.start()
    try:
        assert job.result(timeout=20) is True
    finally:
        queue.request_shutdown()
        worker.join(timeout=30)
    order.refresh_from_db()
    assert order.receipt_sent is True
