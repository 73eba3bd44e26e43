"""``SignedSerializer`` (the reference's wire format: a 32-byte HMAC-SHA256 tag, then the inner
bytes) on every backend: a payload signed with another key, or changed in storage, is refused
with a clear error and its task never runs."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3

import pytest

from taskito import JsonSerializer, Queue, SignedSerializer
from tests.api.backends.support import Backend, status_of, worker_thread
from tests.helpers import wait_until

KEY = b"k" * 32


def test_the_wire_format_is_the_tag_then_the_inner_bytes() -> None:
    signed = SignedSerializer(JsonSerializer(), KEY)
    data = signed.dumps({"a": 1})
    body = JsonSerializer().dumps({"a": 1})
    assert data == hmac.new(KEY, body, hashlib.sha256).digest() + body
    assert signed.loads(data) == {"a": 1}
    assert "kkkk" not in repr(signed)


def test_changed_short_or_foreign_bytes_are_refused() -> None:
    signed = SignedSerializer(JsonSerializer(), KEY)
    data = bytearray(signed.dumps([1, 2, 3]))
    data[-2] ^= 1
    with pytest.raises(ValueError, match="signature does not match"):
        signed.loads(bytes(data))
    with pytest.raises(ValueError, match="shorter than the 32-byte signature"):
        signed.loads(b"short")
    other = SignedSerializer(JsonSerializer(), b"o" * 32)
    with pytest.raises(ValueError, match="signature does not match"):
        other.loads(signed.dumps([1]))
    with pytest.raises(TypeError, match="expects bytes"):
        signed.loads("text")  # type: ignore[arg-type]


def test_bad_keys_and_inner_serializers_are_refused() -> None:
    with pytest.raises(TypeError, match="key must be bytes"):
        SignedSerializer(JsonSerializer(), "k" * 32)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 32 bytes, got 16"):
        SignedSerializer(JsonSerializer(), b"k" * 16)
    with pytest.raises(TypeError, match="inner must be a Serializer"):
        SignedSerializer(object(), KEY)  # type: ignore[arg-type]


def _run_until_settled(queue: Queue, job_id: str) -> str:
    with worker_thread(queue):
        wait_until(lambda: status_of(queue, job_id) in ("complete", "dead", "failed"))
    return status_of(queue, job_id)


def test_a_job_signed_with_another_key_never_runs(backend: Backend) -> None:
    ran: list[int] = []
    worker_queue = backend.queue(serializer=SignedSerializer(JsonSerializer(), KEY))
    forger = backend.queue(serializer=SignedSerializer(JsonSerializer(), b"f" * 32))
    for queue in (worker_queue, forger):
        queue.task(name="pay", max_retries=0)(lambda amount: ran.append(amount))
    honest = worker_queue.enqueue("pay", (1,))
    forged = forger.enqueue("pay", (1_000_000,))
    assert _run_until_settled(worker_queue, forged.id) == "dead"
    wait_until(lambda: status_of(worker_queue, honest.id) == "complete")
    assert ran == [1]
    error = worker_queue.get_job(forged.id).to_dict()["error"]  # type: ignore[union-attr]
    assert "signature does not match" in error


def test_a_payload_changed_in_the_database_is_refused(tmp_path: object) -> None:
    path = f"{tmp_path}/signed.db"
    ran: list[int] = []
    queue = Queue(db_path=path, serializer=SignedSerializer(JsonSerializer(), KEY))
    try:
        queue.task(name="pay", max_retries=0)(lambda amount: ran.append(amount))
        job = queue.enqueue("pay", (5,))
        with sqlite3.connect(path) as conn:
            (payload,) = conn.execute("SELECT payload FROM jobs WHERE id = ?", (job.id,)).fetchone()
            tampered = bytes(payload).replace(b"5", b"9")
            conn.execute("UPDATE jobs SET payload = ? WHERE id = ?", (tampered, job.id))
        assert _run_until_settled(queue, job.id) == "dead"
        assert ran == []
    finally:
        queue.close()
