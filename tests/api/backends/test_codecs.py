"""Payload codecs on every backend: ``Queue(codec=...)`` over payloads and results,
``@queue.task(codecs=[...])`` over one task's payloads, both with a task's own serializer and
with signing; idempotency keys that do not change with the codecs; and the bad inputs: bad
options at construction and decoration, and stored bytes the codecs refuse (foreign, changed,
stored before the codecs, a zip bomb), each failing its own job only."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from taskito import (
    AesGcmCodec,
    CloudpickleSerializer,
    CodecSerializer,
    CryptoError,
    EncryptedSerializer,
    GzipCodec,
    HmacCodec,
    JsonSerializer,
    Queue,
)
from taskito.queue.idempotency import auto_key
from tests.api.backends.support import Backend, record_of, status_of, worker_thread
from tests.helpers import wait_until

AES_KEY = bytes(range(32))
MAC_KEY = b"m" * 32
BIG = "abc" * 20_000  # compresses well


def _settle(queue: Queue, *job_ids: str) -> dict[str, str]:
    """Run a worker until every job has completed or died; their final statuses."""
    final = ("complete", "dead", "failed")
    with worker_thread(queue):
        wait_until(lambda: all(status_of(queue, job_id) in final for job_id in job_ids))
    return {job_id: status_of(queue, job_id) for job_id in job_ids}


def _error(queue: Queue, job_id: str) -> str:
    job = queue.get_job(job_id)
    assert job is not None
    return str(job.to_dict()["error"])


def test_the_queue_codec_covers_payloads_and_results(backend: Backend) -> None:
    chain = [GzipCodec(), AesGcmCodec(AES_KEY)]
    queue = backend.queue(codec=chain)

    @queue.task(name="measure", max_retries=0)
    def measure(text: str) -> dict[str, Any]:
        return {"length": len(text), "echo": text[:6]}

    job = measure.delay(BIG)
    stored = record_of(queue, job.id).payload
    expected = CodecSerializer(CloudpickleSerializer(), chain)
    assert len(stored) < len(BIG) // 10  # compressed, then encrypted
    assert expected.loads(stored) == ((BIG,), {})
    with worker_thread(queue):
        assert job.result(timeout=30) == {"length": len(BIG), "echo": "abcabc"}
    result = record_of(queue, job.id).result
    assert result is not None and b"echo" not in result  # the result is encrypted too
    assert expected.loads(result) == {"length": len(BIG), "echo": "abcabc"}
    assert queue.job_arguments(job.id) == ((BIG,), {})
    assert AES_KEY.hex() not in repr(queue.settings) and repr(AES_KEY) not in repr(queue.settings)
    assert isinstance(hash(queue.settings), int)  # still hashable with codecs in it


def test_a_tasks_codecs_cover_its_payloads_only(backend: Backend) -> None:
    queue = backend.queue(codecs={"zip": GzipCodec(level=9), "mac": HmacCodec(MAC_KEY)})

    @queue.task(name="zipped", codecs=["zip", "mac"], max_retries=0)
    def zipped(text: str) -> str:
        return text.upper()[:3]

    @queue.task(name="plain", max_retries=0)
    def plain(text: str) -> str:
        return text[:3]

    big, small = zipped.delay(BIG), plain.delay(BIG)
    stored = record_of(queue, big.id).payload
    assert gzip.decompress(stored[32:]) == CloudpickleSerializer().dumps(((BIG,), {}))
    assert record_of(queue, small.id).payload == CloudpickleSerializer().dumps(((BIG,), {}))
    with worker_thread(queue):
        assert big.result(timeout=30) == "ABC"
        assert small.result(timeout=30) == "abc"
    assert record_of(queue, big.id).result == CloudpickleSerializer().dumps("ABC")


def test_task_codecs_run_before_the_queue_codec_and_wrap_a_tasks_own_serializer(
    backend: Backend,
) -> None:
    aes = AesGcmCodec(AES_KEY)
    queue = backend.queue(codec=aes, codecs={"zip": GzipCodec()})

    @queue.task(name="json_zipped", serializer=JsonSerializer(), codecs=["zip"], max_retries=0)
    def json_zipped(items: list[int]) -> int:
        return sum(items)

    @queue.task(name="json_only", serializer=JsonSerializer(), max_retries=0)
    def json_only(items: list[int]) -> int:
        return len(items)

    items = list(range(2000))
    both, own = json_zipped.delay(items), json_only.delay(items)
    # Compressed, then encrypted: the queue's codec is outermost.
    inner = gzip.decompress(aes.decode(record_of(queue, both.id).payload))
    assert JsonSerializer().loads(inner) == [[items], {}]
    assert JsonSerializer().loads(aes.decode(record_of(queue, own.id).payload)) == [[items], {}]
    with worker_thread(queue):
        assert both.result(timeout=30) == sum(items)
        assert own.result(timeout=30) == 2000
    # Results use the queue's serializer and codec, whatever the task's.
    result = record_of(queue, both.id).result
    assert CloudpickleSerializer().loads(aes.decode(result)) == sum(items)


def test_a_periodic_task_fires_through_its_codecs(backend: Backend) -> None:
    aes = AesGcmCodec(AES_KEY)
    queue = backend.queue(codec=aes, codecs={"zip": GzipCodec()})
    seen: list[str] = []

    @queue.periodic("* * * * * *", name="tick", args=("tock",))
    @queue.task(name="tick", codecs=["zip"])
    def tick(word: str) -> None:
        seen.append(word)

    with worker_thread(queue):
        wait_until(lambda: seen, 10, message="a slot ran")
    assert seen[0] == "tock"
    (fired, *_) = queue.list_jobs(task_name="tick")
    payload = record_of(queue, fired.id).payload
    assert CloudpickleSerializer().loads(gzip.decompress(aes.decode(payload))) == (("tock",), {})


def test_auto_idempotency_keys_do_not_change_with_codecs(backend: Backend) -> None:
    queue = backend.queue(codec=AesGcmCodec(AES_KEY), codecs={"zip": GzipCodec()})

    @queue.task(name="charge", idempotent=True, codecs=["zip"])
    def charge(order: int, cents: int) -> None: ...

    first, again = charge.delay(7, 1999), charge.delay(7, 1999)
    assert first.id == again.id  # the ciphertexts differ; the key does not
    assert charge.delay(8, 1999).id != first.id
    key = record_of(queue, first.id).unique_key
    assert key == auto_key(CloudpickleSerializer(), "charge", (7, 1999), {})
    assert queue.stats()["pending"] == 2


def test_codecs_under_a_signing_key_survive_a_dead_letter_retry(backend: Backend) -> None:
    queue = backend.queue(
        signing_key=b"s" * 32,
        codec=[GzipCodec(), AesGcmCodec(AES_KEY)],
        codecs={"mac": HmacCodec(MAC_KEY)},
    )
    attempts: list[int] = []

    @queue.task(name="flaky", codecs=["mac"], max_retries=0)
    def flaky(n: int) -> int:
        attempts.append(n)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return n * 2

    job = flaky.delay(21)
    assert _settle(queue, job.id) == {job.id: "dead"}
    (letter,) = queue.dead_letters()
    retried = queue.retry_dead(letter["id"])
    assert _settle(queue, retried) == {retried: "complete"}
    result = queue.get_job(retried)
    assert result is not None and result.result(timeout=5) == 42
    assert attempts == [21, 21]


def test_an_encrypting_serializer_under_codecs_is_rebound_for_a_retry(backend: Backend) -> None:
    serializer = EncryptedSerializer(CloudpickleSerializer(), AES_KEY)
    queue = backend.queue(serializer=serializer, codec=GzipCodec())
    runs: list[str] = []

    @queue.task(name="once_failing", max_retries=0)
    def once_failing(text: str) -> int:
        runs.append(text)
        if len(runs) == 1:
            raise RuntimeError("fail once")
        return len(text)

    job = once_failing.delay("hello")
    assert _settle(queue, job.id) == {job.id: "dead"}
    retried = queue.retry_dead(queue.dead_letters()[0]["id"])
    assert _settle(queue, retried) == {retried: "complete"}
    assert queue.job_arguments(retried) == (("hello",), {})


def test_bad_codec_options_fail_at_construction_and_decoration(backend: Backend) -> None:
    kwargs = backend.target.kwargs
    with pytest.raises(ValueError, match="codec is an empty list"):
        Queue(**kwargs, codec=[])
    with pytest.raises(TypeError, match=r"codec must be a payload codec .*not object"):
        Queue(**kwargs, codec=object())
    with pytest.raises(TypeError, match=r"codec\[0\] must be a payload codec .*serializer="):
        Queue(**kwargs, codec=[JsonSerializer()])
    with pytest.raises(TypeError, match="codecs must be a dict of codecs by name, not str"):
        Queue(**kwargs, codecs="gzip")
    with pytest.raises(ValueError, match="must be 16, 24 or 32 bytes long"):
        Queue(**kwargs, codec=AesGcmCodec(b"short"))
    queue = backend.queue(codecs={"zip": GzipCodec()})
    with pytest.raises(ValueError, match=r"unknown codec 'aes' in codecs=.* are 'zip'"):
        queue.task(codecs=["zip", "aes"])
    with pytest.raises(ValueError, match="codecs is an empty list"):
        queue.task(codecs=[])
    with pytest.raises(TypeError, match="codecs must be a list of names, not a single str"):
        queue.task(codecs="zip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown codec 'zip' in codecs=.* are none"):
        backend.queue().task(codecs=["zip"])
    assert queue._task_registry == {}  # nothing was registered by the failed decorations


def test_bytes_the_codecs_refuse_fail_their_own_job_only(backend: Backend) -> None:
    """Jobs a producer without the worker's codecs stored (before the codecs were turned on,
    or with another key, or forged) each fail alone, naming why; the good job runs."""
    worker = backend.queue(codec=HmacCodec(MAC_KEY), codecs={"aes": AesGcmCodec(AES_KEY)})
    ran: list[str] = []
    worker.task(name="pay", max_retries=0)(ran.append)
    worker.task(name="secret", codecs=["aes"], max_retries=0)(ran.append)
    before = backend.queue()  # stored before the codecs were turned on
    forger = backend.queue(codec=HmacCodec(b"f" * 32))
    other_key = backend.queue(codec=HmacCodec(MAC_KEY), codecs={"aes": AesGcmCodec(b"o" * 32)})
    other_key.task(name="secret", codecs=["aes"], max_retries=0)(ran.append)

    plain = before.enqueue("pay", ("before",))
    forged = forger.enqueue("pay", ("forged",))
    foreign = other_key.enqueue("secret", ("foreign",))
    good = worker.enqueue("secret", ("good",))
    statuses = _settle(worker, plain.id, forged.id, foreign.id, good.id)
    assert statuses == {
        plain.id: "dead",
        forged.id: "dead",
        foreign.id: "dead",
        good.id: "complete",
    }
    assert ran == ["good"]
    assert "HmacCodec: 27 bytes is shorter than the 32-byte tag" in _error(worker, plain.id)
    assert "HmacCodec: the tag does not match" in _error(worker, forged.id)
    assert "AesGcmCodec: decryption failed" in _error(worker, foreign.id)
    with pytest.raises(CryptoError, match=f"arguments of job {forged.id} refused"):
        worker.job_arguments(forged.id)


def test_a_zip_bomb_fails_its_job_and_is_never_inflated(backend: Backend) -> None:
    producer = backend.queue(codecs={"zip": GzipCodec()})
    worker = backend.queue(codecs={"zip": GzipCodec(max_decompressed_bytes=256 * 1024)})
    for queue in (producer, worker):
        queue.task(name="swallow", codecs=["zip"], max_retries=0)(lambda data: len(data))
    bomb = producer.enqueue("swallow", (b"\0" * (8 * 1024 * 1024),))
    assert len(record_of(producer, bomb.id).payload) < 64 * 1024  # under max_payload_bytes
    fine = producer.enqueue("swallow", (b"\0" * 1024,))
    assert _settle(worker, bomb.id, fine.id) == {bomb.id: "dead", fine.id: "complete"}
    assert "past max_decompressed_bytes (262144)" in _error(worker, bomb.id)


def test_a_result_changed_in_the_database_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "codec.db")
    queue = Queue(db_path=path, codec=[GzipCodec(), HmacCodec(MAC_KEY)])
    try:
        queue.task(name="double", max_retries=0)(lambda n: n * 2)
        job = queue.enqueue("double", (21,))
        assert _settle(queue, job.id) == {job.id: "complete"}
        with sqlite3.connect(path) as conn:
            (stored,) = conn.execute("SELECT result FROM jobs WHERE id = ?", (job.id,)).fetchone()
            changed = bytes(stored[:-1]) + bytes([stored[-1] ^ 1])
            conn.execute("UPDATE jobs SET result = ? WHERE id = ?", (changed, job.id))
        fresh = queue.get_job(job.id)
        assert fresh is not None
        with pytest.raises(CryptoError, match=f"result of job {job.id} refused: HmacCodec"):
            fresh.result(timeout=5)
    finally:
        queue.close()
