"""The prefork wire protocol on its own: every message survives the trip, frames are read
whole across a pipe, and a torn, oversized or foreign frame is an error, not a message."""

from __future__ import annotations

import dataclasses
import marshal
import os
import struct
import threading
from collections.abc import Iterator

import pytest

from taskito.job import JobRecord, JobStatus, Outcome, OutcomeKind
from taskito.worker.pools.prefork import protocol

RECORD = JobRecord(
    id="01a224b5-c2f5-7386-9965-d67de84077de",
    queue="emails",
    task_name="app.send",
    payload=b"\x00\x01 payload \xff",
    status=JobStatus.RUNNING,
    priority=3,
    created_at=1_700_000_000_000,
    scheduled_at=1_700_000_000_500,
    retry_count=2,
    max_retries=5,
    timeout_ms=None,
    started_at=1_700_000_001_000,
    metadata='{"k": 1}',
    cancel_requested=True,
    worker_id="w1",
    attempt=7,
    lease_expires_at=1_700_000_011_000,
)

MESSAGES: list[protocol.ToChild | protocol.ToParent] = [
    protocol.Job(RECORD),
    protocol.Cancel(RECORD.id),
    protocol.Shutdown(),
    protocol.Ready(4321),
    protocol.Outcome(
        RECORD.id,
        7,
        Outcome(OutcomeKind.SUCCESS, result=b"\x80\x05result", wall_time_ns=12_345),
    ),
    protocol.Outcome(
        RECORD.id,
        7,
        Outcome(
            OutcomeKind.FAILURE,
            error="Traceback ...\nValueError: é",
            retryable=False,
            wall_time_ns=1,
            exception_type="ValueError",
        ),
    ),
    protocol.StartupFailed("cannot import app"),
]


@pytest.fixture
def pipe() -> Iterator[tuple[protocol.MessageReader, protocol.MessageWriter]]:
    read_fd, write_fd = os.pipe()
    reader, writer = protocol.MessageReader(read_fd), protocol.MessageWriter(write_fd)
    try:
        yield reader, writer
    finally:
        writer.close()
        reader.close()


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_encoding(message: protocol.ToChild | protocol.ToParent) -> None:
    decoded = protocol.decode(protocol.encode(message))
    assert decoded == message and type(decoded) is type(message)
    if isinstance(decoded, protocol.Job):
        assert decoded.record.status is JobStatus.RUNNING
    if isinstance(decoded, protocol.Outcome) and isinstance(message, protocol.Outcome):
        # Not part of Outcome equality, so compared on its own.
        assert decoded.outcome.exception_type == message.outcome.exception_type


def test_messages_cross_a_pipe_in_order_and_end_of_stream_is_none(
    pipe: tuple[protocol.MessageReader, protocol.MessageWriter],
) -> None:
    reader, writer = pipe
    for message in MESSAGES:
        writer.send(message)
    writer.close()
    assert [reader.receive() for _ in MESSAGES] == MESSAGES
    assert reader.receive() is None


def test_a_frame_larger_than_the_pipe_buffer_arrives_whole(
    pipe: tuple[protocol.MessageReader, protocol.MessageWriter],
) -> None:
    reader, writer = pipe
    big = protocol.Job(dataclasses.replace(RECORD, payload=b"x" * 3_000_000))
    sender = threading.Thread(target=writer.send, args=(big,))
    sender.start()
    try:
        assert reader.receive() == big
    finally:
        sender.join()


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x00\x00", "inside a frame header"),
        (struct.pack(">I", 10) + b"abc", "inside a 10-byte frame"),
        (struct.pack(">I", protocol.MAX_MESSAGE_BYTES + 1), "larger than any message"),
        (frame(b"not marshal data"), "undecodable frame"),
        (frame(marshal.dumps((99, "x"))), "unknown message tag 99"),
        (frame(marshal.dumps((0, ("too", "short")))), "undecodable frame"),
        (frame(marshal.dumps("a bare string")), "unknown message tag"),
    ],
)
def test_a_bad_frame_is_a_protocol_error(
    pipe: tuple[protocol.MessageReader, protocol.MessageWriter], raw: bytes, message: str
) -> None:
    reader, writer = pipe
    os.write(writer.fileno(), raw)
    writer.close()
    with pytest.raises(protocol.ProtocolError, match=message):
        reader.receive()


def test_only_protocol_messages_can_be_sent(
    pipe: tuple[protocol.MessageReader, protocol.MessageWriter],
) -> None:
    _, writer = pipe
    with pytest.raises(TypeError, match="not a prefork protocol message: dict"):
        writer.send({"type": "job"})  # type: ignore[arg-type]


def test_sending_after_the_reader_is_gone_raises_broken_pipe() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    writer = protocol.MessageWriter(write_fd)
    try:
        with pytest.raises(BrokenPipeError):
            writer.send(protocol.Shutdown())
    finally:
        writer.close()
    with pytest.raises(BrokenPipeError):
        writer.send(protocol.Shutdown())
    with pytest.raises(ValueError, match="closed"):
        writer.fileno()
