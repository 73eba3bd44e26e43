"""``taskito worker`` with payload codecs: the worker process builds the app module's Queue,
codecs included, and runs what a producer with the same codecs stored; its results come back
encoded with the queue's codec chain."""

from __future__ import annotations

import signal
import textwrap

from taskito import AesGcmCodec, CloudpickleSerializer, CodecSerializer, GzipCodec, HmacCodec, Queue
from tests.e2e.cli_project import Project
from tests.e2e.test_cli_worker import result_of, stop_worker

CODEC_APP = """
import os

from taskito import AesGcmCodec, GzipCodec, HmacCodec, Queue

here = os.path.dirname(os.path.abspath(__file__))
queue = Queue(
    db_path=os.path.join(here, "jobs.db"),
    codec=[GzipCodec(), AesGcmCodec(b"a" * 32)],
    codecs={"mac": HmacCodec(b"m" * 32)},
)


@queue.task(name="shout", codecs=["mac"])
def shout(text):
    return text.upper()
"""


def test_a_cli_worker_uses_the_apps_codecs(project: Project) -> None:
    (project.root / "codec_app.py").write_text(textwrap.dedent(CODEC_APP).lstrip())
    chain = [GzipCodec(), AesGcmCodec(b"a" * 32)]
    producer = Queue(
        db_path=str(project.db_path), codec=chain, codecs={"mac": HmacCodec(b"m" * 32)}
    )
    try:
        producer.task(name="shout", codecs=["mac"])(str.upper)
        job = producer.enqueue("shout", ("quiet please",))
        worker = project.start("worker", "--app", "codec_app:queue", name="worker")
        assert result_of(job, project, worker) == "QUIET PLEASE"
        stop_worker(project, worker, signal.SIGTERM)
        stored = producer._storage.get_job(job.id)
        assert stored is not None and stored.result is not None
        assert b"QUIET" not in stored.result
        assert CodecSerializer(CloudpickleSerializer(), chain).loads(stored.result) == (
            "QUIET PLEASE"
        )
    finally:
        producer.close()
