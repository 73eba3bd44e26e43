"""``max_payload_bytes`` on every backend: the queue's limit (1 MiB by default, settable, 0
for none) and a call's own, checked on the encoded payload of ``enqueue``, of each job of
``enqueue_many`` (both batch paths); over it, ``PayloadTooLargeError`` and nothing stored."""

from __future__ import annotations

import pytest

from taskito import ConfigurationError, PayloadTooLargeError, Queue
from tests.api.backends.support import Backend


def _stored(queue: Queue) -> int:
    return sum(queue.stats().values())


def test_the_default_limit_is_one_mebibyte(queue: Queue) -> None:
    assert queue.max_payload_bytes == 1024 * 1024

    @queue.task()
    def upload(data: bytes) -> None: ...

    upload.delay(b"x" * 1000)
    with pytest.raises(PayloadTooLargeError) as caught:
        upload.delay(b"x" * (1024 * 1024 + 1))
    message = str(caught.value)
    assert repr(upload.name) in message and "max_payload_bytes (1048576)" in message
    assert isinstance(caught.value, ValueError)
    assert _stored(queue) == 1


def test_the_limit_is_the_encoded_payload_size(backend: Backend) -> None:
    queue = backend.queue(max_payload_bytes=200)

    @queue.task()
    def echo(text: str) -> None: ...

    echo.delay("a" * 50)
    with pytest.raises(PayloadTooLargeError, match=r"is \d+ bytes, over max_payload_bytes \(200\)"):
        echo.delay("a" * 300)
    queue.max_payload_bytes = 0  # no limit
    echo.delay("a" * 300)
    assert _stored(queue) == 2


def test_a_call_passes_its_own_limit(queue: Queue) -> None:
    @queue.task()
    def echo(text: str) -> None: ...

    with pytest.raises(PayloadTooLargeError):
        echo.apply_async(("a" * 300,), max_payload_bytes=100)
    echo.apply_async(("a" * 300,), max_payload_bytes=0)
    queue.max_payload_bytes = 100
    echo.apply_async(("a" * 300,), max_payload_bytes=1000)
    assert _stored(queue) == 2


@pytest.mark.parametrize("per_job_lists", [False, True])
def test_one_large_job_fails_the_whole_batch(queue: Queue, per_job_lists: bool) -> None:
    queue.max_payload_bytes = 200

    @queue.task()
    def echo(text: str) -> None: ...

    extra = {"metadata_list": [None, None, None]} if per_job_lists else {}
    with pytest.raises(PayloadTooLargeError, match=r"args_list\[1\]: the payload of task"):
        queue.enqueue_many(echo.name, [("a",), ("a" * 300,), ("b",)], **extra)  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLargeError):
        queue.enqueue_many(echo.name, [("a" * 50,)], max_payload_bytes=10)
    assert _stored(queue) == 0
    assert len(echo.map([("a",), ("b",)])) == 2


def test_bad_limits_are_refused(backend: Backend, queue: Queue) -> None:
    with pytest.raises(ConfigurationError, match="max_payload_bytes"):
        backend.queue(max_payload_bytes=-1)
    with pytest.raises(TypeError, match="max_payload_bytes"):
        queue.max_payload_bytes = "1MB"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="max_payload_bytes"):
        queue.enqueue("t", max_payload_bytes=1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_payload_bytes"):
        queue.enqueue_many("t", [()], max_payload_bytes=-5)
    assert queue.max_payload_bytes == 1024 * 1024
    assert _stored(queue) == 0
