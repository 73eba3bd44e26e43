"""Payload codecs across processes: prefork children import the app module and build the same
Queue, codecs included, so they decode what the producer encoded (per task and queue-wide) and
encode results the producer reads; a job stored without the codecs fails alone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue
from tests.api.backends.support import AppModule

APP_SOURCE = """
import os

from taskito import AesGcmCodec, GzipCodec, HmacCodec, JsonSerializer, Queue

queue = Queue(
    db_path=DB_PATH,
    codec=[GzipCodec(), AesGcmCodec(bytes(range(32)))],
    codecs={"mac": HmacCodec(b"m" * 32), "zip": GzipCodec(level=9)},
)


@queue.task(name="measure", codecs=["zip", "mac"], max_retries=0)
def measure(text):
    return {"pid": os.getpid(), "length": len(text)}


@queue.task(name="json_sum", serializer=JsonSerializer(), max_retries=0)
def json_sum(items):
    return {"pid": os.getpid(), "sum": sum(items)}
"""


class App(AppModule):
    def __init__(self, root: Path) -> None:
        db_path = repr(str(root / "jobs.db"))
        super().__init__(root, "codec_app_", APP_SOURCE.replace("DB_PATH", db_path))


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.chdir(tmp_path)  # prefork children import the app from the working directory
    opened = App(tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def test_prefork_children_decode_and_encode_with_the_apps_codecs(app: App, tmp_path: Path) -> None:
    text = "payload " * 5000
    measured = app.queue.enqueue("measure", (text,))
    summed = app.queue.enqueue("json_sum", (list(range(100)),))
    # A producer that never turned the codecs on: its job fails alone, in a child.
    plain = Queue(db_path=str(tmp_path / "jobs.db"))
    try:
        stray = plain.enqueue("measure", (text,))
    finally:
        plain.close()
    with app.run("prefork"):
        records = {job_id: app.final(job_id) for job_id in (measured.id, summed.id, stray.id)}
        results: list[Any] = [app.queue.get_job(j.id).result(5) for j in (measured, summed)]  # type: ignore[union-attr]
    assert [records[j].status for j in (measured.id, summed.id, stray.id)] == [
        "complete",
        "complete",
        "dead",
    ]
    assert results[0]["length"] == len(text) and results[1]["sum"] == 4950
    assert {results[0]["pid"], results[1]["pid"]}.isdisjoint({os.getpid()})
    assert "AesGcmCodec: decryption failed" in (records[stray.id].error or "")
