"""Celery habits (docs/migrating-from-celery.md): ``apply_async(countdown=, eta=)`` and
``JobResult.get()`` are aliases; ``bind=True``, ``autoretry_for=``, ``link=``,
``result.revoke()`` and the other habits without a cheap equivalent raise an error naming
the taskito way; the reference API around them is unchanged."""

from __future__ import annotations

import inspect
import re
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from taskito import (
    ConfigurationError,
    JobResult,
    MaxRetriesExceededError,
    Queue,
    Signature,
    TaskWrapper,
    chain,
    current_job,
    group,
)
from taskito.celery_habits import (
    APPLY_ASYNC_KEYWORDS,
    GET_KEYWORDS,
    GUIDE,
    JOB_ATTRIBUTES,
    QUEUE_ATTRIBUTES,
    SIGNATURE_ATTRIBUTES,
    TASK_ATTRIBUTES,
    TASK_KEYWORDS,
)
from taskito.job import JobStatus
from tests.api.driving import drive


@pytest.fixture
def add(queue: Queue) -> TaskWrapper:
    @queue.task()
    def add(a: int, b: int) -> int:
        return a + b

    return add


def _delay_ms(job: JobResult) -> int:
    record = job.to_dict()
    return int(record["scheduled_at"]) - int(record["created_at"])


def _stored(queue: Queue) -> int:
    return len(queue.list_jobs(limit=100))


# --- countdown= and eta= --------------------------------------------------------------------


def test_countdown_is_delay_in_seconds(add: TaskWrapper) -> None:
    assert _delay_ms(add.apply_async((1, 2), countdown=5)) == 5000
    assert _delay_ms(add.apply_async((1, 2), countdown=0.25)) == 250
    assert _delay_ms(add.apply_async((1, 2), delay=5)) == 5000  # the reference's own name


def test_countdown_zero_is_now(add: TaskWrapper) -> None:
    assert _delay_ms(add.apply_async((1, 2), countdown=0)) == 0


def test_eta_is_the_time_to_run_at(add: TaskWrapper) -> None:
    eta = datetime.now(UTC) + timedelta(hours=1)
    scheduled = add.apply_async((1, 2), eta=eta).to_dict()["scheduled_at"]
    eta_ms = round(eta.timestamp() * 1000)
    # Measured from the call, so the enqueue's own milliseconds may come on top.
    assert eta_ms - 1 <= scheduled <= eta_ms + 60_000


def test_eta_in_another_timezone_means_the_same_instant(add: TaskWrapper) -> None:
    paris = datetime.now(UTC).astimezone(timezone(timedelta(hours=2))) + timedelta(hours=1)
    scheduled = add.apply_async((1, 2), eta=paris).to_dict()["scheduled_at"]
    assert round(paris.timestamp() * 1000) - 1 <= scheduled


def test_a_past_eta_runs_now(add: TaskWrapper) -> None:
    job = add.apply_async((1, 2), eta=datetime.now(UTC) - timedelta(days=1))
    assert _delay_ms(job) == 0


def test_a_naive_eta_is_refused_and_nothing_is_stored(queue: Queue, add: TaskWrapper) -> None:
    with pytest.raises(ValueError, match="eta must be a timezone-aware datetime"):
        add.apply_async((1, 2), eta=datetime.now() + timedelta(minutes=5))
    assert _stored(queue) == 0


@pytest.mark.parametrize("eta", [5, "2030-01-01T00:00:00Z", timedelta(minutes=5)])
def test_an_eta_that_is_not_a_datetime_is_refused(queue: Queue, add: TaskWrapper, eta: Any) -> None:
    with pytest.raises(TypeError, match="eta must be a datetime"):
        add.apply_async((1, 2), eta=eta)
    assert _stored(queue) == 0


@pytest.mark.parametrize(
    ("countdown", "error", "message"),
    [
        (-1, ConfigurationError, "countdown must be a finite non-negative number"),
        (float("nan"), ConfigurationError, "countdown must be a finite non-negative number"),
        (float("inf"), ConfigurationError, "countdown must be a finite non-negative number"),
        (True, TypeError, "countdown must be a number of seconds, not bool"),
        ("10", TypeError, "countdown must be a number of seconds, not str"),
    ],
)
def test_a_bad_countdown_is_refused_by_name(
    queue: Queue, add: TaskWrapper, countdown: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        add.apply_async((1, 2), countdown=countdown)
    assert _stored(queue) == 0


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"delay": 1, "countdown": 1}, "delay=, countdown="),
        ({"countdown": 1, "eta": datetime.now(UTC)}, "countdown=, eta="),
        ({"delay": 0, "eta": datetime.now(UTC)}, "delay=, eta="),
    ],
)
def test_only_one_of_delay_countdown_and_eta(
    queue: Queue, add: TaskWrapper, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(TypeError, match=f"takes one of delay=, countdown= and eta=, got {named}"):
        add.apply_async((1, 2), **options)
    assert _stored(queue) == 0


def test_countdown_in_test_mode_runs_the_task_now(queue: Queue, add: TaskWrapper) -> None:
    with queue.test_mode():
        job = add.apply_async((2, 3), countdown=60)
        assert job.get(timeout=1) == 5
        assert job.result(timeout=1) == 5


def test_a_countdown_job_runs_on_a_real_worker(queue: Queue) -> None:
    @queue.task()
    def when(x: int) -> str:
        return f"{x} after {current_job.retry_count} retries"

    job = when.apply_async((7,), countdown=0.2)
    assert job.status == "pending"
    worker = threading.Thread(target=queue.run_worker)
    worker.start()
    try:
        assert job.get(timeout=30) == "7 after 0 retries"
    finally:
        queue.request_shutdown()
        worker.join()
    assert job.status == "complete"


# --- JobResult.get() ------------------------------------------------------------------------


def test_get_is_result(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.COMPLETE, result={"answer": 42})
    assert job.get(timeout=5) == {"answer": 42} == job.result(timeout=5)
    assert job.get(5, 0.01, 0.1) == {"answer": 42}  # result()'s positional order


def test_get_raises_what_result_raises(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.DEAD, error="Traceback...\nValueError: boom")
    with pytest.raises(MaxRetriesExceededError, match="dead-lettered: Traceback"):
        job.get(timeout=5)


def test_get_times_out_like_result(queue: Queue) -> None:
    job = queue.enqueue("t")  # no worker: it stays pending
    with pytest.raises(
        TimeoutError, match=r"did not complete within 0.05s \(current status: pending\)"
    ):
        job.get(timeout=0.05)
    with pytest.raises(ValueError, match="timeout must be positive"):
        job.get(timeout=0)


def test_get_without_a_bound_names_the_taskito_way(queue: Queue) -> None:
    job = queue.enqueue("t")
    with pytest.raises(TypeError) as caught:
        job.get(timeout=None)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "get(timeout=None), which waits forever, is Celery's" in message
    assert "pass timeout=<seconds>" in message
    assert GUIDE in message


@pytest.mark.parametrize("name", sorted(GET_KEYWORDS))
def test_celery_keywords_of_get_name_the_taskito_way(queue: Queue, name: str) -> None:
    job = queue.enqueue("t")
    with pytest.raises(TypeError) as caught:
        job.get(timeout=1, **{name: False})
    assert str(caught.value).startswith(f"get({name}=...) is Celery's; in taskito ")
    assert str(caught.value).endswith(f"({GUIDE})")


def test_get_propagate_points_at_the_errors_raised(queue: Queue) -> None:
    job = queue.enqueue("t")
    with pytest.raises(TypeError, match="always raises the job's error"):
        job.get(timeout=1, propagate=False)


def test_get_in_test_mode(queue: Queue, add: TaskWrapper) -> None:
    with queue.test_mode():
        assert add.delay(1, 1).get(timeout=1) == 2


# --- canvas: one iterable of signatures -----------------------------------------------------


def test_group_and_chain_take_one_iterable_of_signatures(add: TaskWrapper) -> None:
    from_generator = group(add.s(i, i) for i in range(3))
    from_list = group([add.s(0, 0), add.s(1, 1)], max_concurrency=1)
    assert [sig.args for sig in from_generator.signatures] == [(0, 0), (1, 1), (2, 2)]
    assert [sig.args for sig in from_list.signatures] == [(0, 0), (1, 1)]
    assert [sig.args for sig in chain([add.s(1, 2), add.s(3)]).signatures] == [(1, 2), (3,)]
    # The reference's spelling is unchanged.
    assert [sig.args for sig in group(add.s(1, 1), add.s(2, 2)).signatures] == [(1, 1), (2, 2)]
    assert all(isinstance(sig, Signature) for sig in chain(add.s(1, 2)).signatures)


def test_an_iterable_canvas_runs_in_test_mode(queue: Queue, add: TaskWrapper) -> None:
    with queue.test_mode():
        jobs = group(add.s(i, 1) for i in range(3)).apply()
        assert [job.get(timeout=1) for job in jobs] == [1, 2, 3]


@pytest.mark.parametrize("build", [group, chain])
def test_an_empty_or_mixed_iterable_is_refused(add: TaskWrapper, build: Any) -> None:
    with pytest.raises(ConfigurationError, match="needs at least one signature"):
        build(iter([]))
    with pytest.raises(TypeError, match=r"takes signatures \(task.s\(...\)\), not int"):
        build([add.s(1, 2), 3])
    with pytest.raises(TypeError, match="takes signatures"):
        build("abc")  # a string is not a list of signatures


# --- decorator keywords ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TASK_KEYWORDS))
def test_celery_task_options_name_the_taskito_way(queue: Queue, name: str) -> None:
    with pytest.raises(TypeError) as caught:
        queue.task(**{name: True})
    message = str(caught.value)
    assert message.startswith(f"@queue.task({name}=...) is Celery's; in taskito ")
    assert message.endswith(f"({GUIDE})")
    assert queue._task_registry == {}


@pytest.mark.parametrize(
    ("options", "way"),
    [
        ({"bind": True}, "current_job"),
        ({"bind": True}, "a task retries by raising"),
        ({"autoretry_for": (ConnectionError,)}, "retry_on=[...]"),
        ({"retry_kwargs": {"max_retries": 5}}, "max_retries="),
        ({"default_retry_delay": 10}, "retry_delays=[seconds, ...]"),
        ({"retry_backoff_max": 600}, "max_retry_delay="),
        ({"time_limit": 60}, "timeout="),
        ({"soft_time_limit": 50}, "soft_timeout="),
        ({"acks_late": True}, "remove the option"),
        ({"ignore_result": True}, "result_ttl="),
        ({"base": object}, "TaskMiddleware"),
    ],
)
def test_each_task_option_names_its_equivalent(
    queue: Queue, options: dict[str, Any], way: str
) -> None:
    with pytest.raises(TypeError, match=f"in taskito .*{re.escape(way)}"):
        queue.task(**options)


@pytest.mark.parametrize("decorator", ["@task", "@ext.task"])
def test_integration_declarations_name_the_taskito_way(decorator: str) -> None:
    """Flask's ``@ext.task()`` and Django's ``@task()`` make the same checks when declared."""
    from taskito.contrib.tasks import check_declaration

    with pytest.raises(TypeError) as caught:
        check_declaration(None, {"bind": True, "queue": "q"}, decorator)
    assert str(caught.value).startswith(f"{decorator}(bind=...) is Celery's; in taskito ")
    with pytest.raises(TypeError, match="unexpected keyword argument 'retries'"):
        check_declaration(None, {"retries": 3}, decorator)


def test_bind_is_refused_before_the_function_is_seen(queue: Queue) -> None:
    with pytest.raises(TypeError, match="bind="):

        @queue.task(bind=True)  # type: ignore[call-arg]
        def send(self: Any, to: str) -> None: ...

    assert queue._task_registry == {}


# --- apply_async keywords -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(APPLY_ASYNC_KEYWORDS))
def test_celery_apply_async_options_name_the_taskito_way(
    queue: Queue, add: TaskWrapper, name: str
) -> None:
    with pytest.raises(TypeError) as caught:
        add.apply_async((1, 2), **{name: "x"})
    message = str(caught.value)
    assert message.startswith(f"apply_async({name}=...) is Celery's; in taskito ")
    assert message.endswith(f"({GUIDE})")
    assert _stored(queue) == 0


@pytest.mark.parametrize(
    ("name", "way"),
    [
        ("link", "chain(task.s(...), next_task.s()).apply()"),
        ("link_error", "on_failure hook"),
        ("routing_key", "apply_async(queue='name')"),
        ("task_id", "unique_key="),
        ("headers", "current_job.metadata"),
    ],
)
def test_each_apply_async_option_names_its_equivalent(
    add: TaskWrapper, name: str, way: str
) -> None:
    with pytest.raises(TypeError, match=re.escape(way)):
        add.apply_async((1, 2), **{name: "x"})


# --- attributes -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(JOB_ATTRIBUTES))
def test_async_result_attributes_name_the_taskito_way(queue: Queue, name: str) -> None:
    job = queue.enqueue("t")
    with pytest.raises(AttributeError) as caught:
        getattr(job, name)
    message = str(caught.value)
    assert message.startswith(f"'JobResult' object has no attribute {name!r} ({name} is Celery's)")
    assert message.endswith(f"({GUIDE})")
    assert caught.value.name == name
    assert caught.value.obj is job


def test_revoke_names_cancel_with_force(queue: Queue) -> None:
    job = queue.enqueue("t")
    with pytest.raises(AttributeError, match=r"queue\.cancel\(job_id\) \(force=True"):
        job.revoke(terminate=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(TASK_ATTRIBUTES))
def test_celery_task_attributes_name_the_taskito_way(add: TaskWrapper, name: str) -> None:
    with pytest.raises(AttributeError) as caught:
        getattr(add, name)
    assert f"'TaskWrapper' object has no attribute {name!r} ({name} is Celery's)" in str(
        caught.value
    )


def test_task_retry_says_to_raise(add: TaskWrapper) -> None:
    with pytest.raises(AttributeError, match="a task retries by raising"):
        add.retry(countdown=5)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(SIGNATURE_ATTRIBUTES))
def test_celery_signature_methods_name_the_taskito_way(add: TaskWrapper, name: str) -> None:
    with pytest.raises(AttributeError) as caught:
        getattr(add.s(1, 2), name)
    assert f"'Signature' object has no attribute {name!r} ({name} is Celery's)" in str(caught.value)


def test_signature_delay_says_apply(add: TaskWrapper) -> None:
    with pytest.raises(AttributeError, match=r"use sig\.apply\(\)"):
        add.s(1, 2).delay()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(QUEUE_ATTRIBUTES))
def test_celery_app_attributes_name_the_taskito_way(queue: Queue, name: str) -> None:
    with pytest.raises(AttributeError) as caught:
        getattr(queue, name)
    assert f"'Queue' object has no attribute {name!r} ({name} is Celery's)" in str(caught.value)


def test_app_control_revoke_names_cancel(queue: Queue) -> None:
    with pytest.raises(AttributeError, match=r"to revoke a job use queue\.cancel\(job_id\)"):
        queue.control.revoke("some-id", terminate=True)  # type: ignore[attr-defined]


def test_test_mode_jobs_name_the_taskito_way_too(queue: Queue, add: TaskWrapper) -> None:
    with queue.test_mode():
        job = add.delay(1, 2)
    with pytest.raises(AttributeError, match=r"'EagerJob' object has no attribute 'state'.*status"):
        job.state  # type: ignore[attr-defined]  # noqa: B018


# --- the normal API is unchanged ------------------------------------------------------------


def test_other_unknown_keywords_fail_as_python_makes_them(queue: Queue, add: TaskWrapper) -> None:
    with pytest.raises(
        TypeError, match=r"Queue\.task\(\) got an unexpected keyword argument 'retries'"
    ):
        queue.task(retries=3)  # type: ignore[call-arg]
    with pytest.raises(
        TypeError, match=r"apply_async\(\) got an unexpected keyword argument 'priorty'"
    ):
        add.apply_async((1, 2), priorty=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"get\(\) got an unexpected keyword argument 'bogus'"):
        queue.enqueue("t").get(timeout=1, bogus=1)  # type: ignore[call-arg]


def test_unknown_attributes_keep_pythons_message(queue: Queue, add: TaskWrapper) -> None:
    job = queue.enqueue("t")
    owners = (job, add, queue, add.s(1, 2))
    for owner, name in [(owner, "nonsense") for owner in owners] + [(job, "_x")]:
        with pytest.raises(AttributeError) as caught:
            getattr(owner, name)
        assert str(caught.value) == f"{type(owner).__name__!r} object has no attribute {name!r}"
        assert not hasattr(owner, name)
        assert getattr(owner, name, "default") == "default"


def test_a_half_built_object_does_not_recurse() -> None:
    """``__getattr__`` never reads the object: an instance without its state (as pickle
    makes one) answers missing attributes with a plain ``AttributeError``."""
    for cls in (TaskWrapper, JobResult, Queue, Signature):
        bare = cls.__new__(cls)
        for name in ("_name", "_record", "retry", "state"):
            with pytest.raises(AttributeError):
                getattr(bare, name)


def test_signatures_keep_the_reference_parameters() -> None:
    apply_async = list(inspect.signature(TaskWrapper.apply_async).parameters.values())
    assert [p.name for p in apply_async[:13]] == [
        "self",
        "args",
        "kwargs",
        "priority",
        "delay",
        "queue",
        "max_retries",
        "timeout",
        "unique_key",
        "metadata",
        "depends_on",
        "expires",
        "result_ttl",
    ]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in apply_async[:13])
    assert [(p.name, p.kind) for p in apply_async[13:]] == [
        ("countdown", inspect.Parameter.KEYWORD_ONLY),
        ("eta", inspect.Parameter.KEYWORD_ONLY),
        ("idempotency_key", inspect.Parameter.KEYWORD_ONLY),
        ("idempotent", inspect.Parameter.KEYWORD_ONLY),
        ("max_payload_bytes", inspect.Parameter.KEYWORD_ONLY),
        ("debounce", inspect.Parameter.KEYWORD_ONLY),
        ("debounce_key", inspect.Parameter.KEYWORD_ONLY),
        ("debounce_max_wait", inspect.Parameter.KEYWORD_ONLY),
        ("debounce_replace_payload", inspect.Parameter.KEYWORD_ONLY),
    ]
    for fn in (Queue.task, TaskWrapper.apply_async, JobResult.get):
        kinds = {p.kind for p in inspect.signature(fn).parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, fn  # unknown keywords still fail
    result = inspect.signature(JobResult.result).parameters
    assert list(inspect.signature(JobResult.get).parameters) == list(result)


@pytest.mark.parametrize(
    ("fn", "hints"),
    [
        (Queue.task, TASK_KEYWORDS),
        (TaskWrapper.apply_async, APPLY_ASYNC_KEYWORDS),
        (JobResult.get, GET_KEYWORDS),
    ],
)
def test_no_hint_shadows_a_real_parameter(fn: Any, hints: dict[str, str]) -> None:
    assert set(hints).isdisjoint(inspect.signature(fn).parameters)


@pytest.mark.parametrize(
    ("owner", "hints"),
    [
        (JobResult, JOB_ATTRIBUTES),
        (TaskWrapper, TASK_ATTRIBUTES),
        (Queue, QUEUE_ATTRIBUTES),
        (Signature, SIGNATURE_ATTRIBUTES),
    ],
)
def test_no_hint_shadows_a_real_attribute(owner: type, hints: dict[str, str]) -> None:
    assert set(hints).isdisjoint(dir(owner))


def test_reference_calls_still_work(queue: Queue, add: TaskWrapper) -> None:
    positional = add.apply_async((1, 2), None, 5, 3)  # args, kwargs, priority, delay
    assert positional.to_dict()["priority"] == 5
    assert _delay_ms(positional) == 3000
    assert _delay_ms(add.delay(1, 2)) == 0
    assert add(1, 2) == 3
    assert queue.get_job(positional.id) is not None
