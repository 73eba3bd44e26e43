"""Proxies against real objects: open files on disk, loggers, real requests and httpx clients;
rebuilding them (signatures checked first, schemas, the time limit, references to one object),
cleaning up, the handler registry, and the optional handlers when their library is absent
(docs/interception.md, proxies)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import httpx
import pytest
import requests

import taskito
from taskito import ProxyReconstructionError
from taskito.interception import ArgumentWalker, build_default_registry
from taskito.proxies import (
    FieldSpec,
    ProxyMetrics,
    ProxyRegistry,
    cleanup_proxies,
    reconstruct_proxies,
    register_builtin_handlers,
)
from taskito.proxies.handlers.file import FileHandler
from taskito.proxies.handlers.http import HttpxClientHandler, RequestsSessionHandler
from taskito.proxies.handlers.logger import LoggerHandler
from tests.helpers import wait_until


class Recorder:
    """A handler that records what it is asked to do; ``gate`` (when set) holds rebuilds."""

    name = "recorder"
    version = 2
    handled_types: tuple[type, ...] = (bytearray,)
    schema = {"value": FieldSpec(str)}

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.rebuilt: list[dict[str, Any]] = []
        self.cleaned: list[Any] = []
        self.gate = gate
        self.fail = fail

    def detect(self, obj: Any) -> bool:
        return isinstance(obj, bytearray)

    def deconstruct(self, obj: Any) -> dict[str, Any]:
        return {"value": obj.decode()}

    def reconstruct(self, recipe: dict[str, Any], version: int) -> Any:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise OSError("disk on fire")
        self.rebuilt.append(recipe)
        return bytearray(recipe["value"], "ascii")

    def cleanup(self, obj: Any) -> None:
        self.cleaned.append(obj)
        if obj == bytearray(b"bad-cleanup"):
            raise RuntimeError("cleanup broke")

    def migrate(self, recipe: dict[str, Any], old: int, new: int) -> dict[str, Any]:
        return {"value": f"{recipe['value']}@v{old}->v{new}"}


def marker(value: str, identity: str = "id-1", version: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "__taskito_proxy__": True,
        "handler": "recorder",
        "version": version,
        "identity": identity,
        "recipe": {"value": value},
        **extra,
    }


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def registry(recorder: Recorder) -> ProxyRegistry:
    made = ProxyRegistry()
    register_builtin_handlers(made)
    made.register(recorder)
    return made


@pytest.fixture
def text_file(tmp_path: Path) -> Iterator[io.TextIOWrapper]:
    path = tmp_path / "notes.txt"
    path.write_text("first line\nsecond line\n", encoding="utf-8")
    with path.open(encoding="utf-8") as handle:
        handle.readline()
        yield handle


# --- the file handler -----------------------------------------------------------------------


def test_open_files_are_detected_but_not_closed_ones_nor_stdio(
    text_file: io.TextIOWrapper, tmp_path: Path
) -> None:
    handler = FileHandler()
    assert handler.detect(text_file)
    closed = (tmp_path / "c").open("w")
    closed.close()
    assert not handler.detect(closed)
    assert not handler.detect(sys.stdout) and not handler.detect(sys.stderr)
    assert not handler.detect("not a file")


def test_a_text_file_recipe_and_its_rebuild_at_the_same_position(
    text_file: io.TextIOWrapper,
) -> None:
    handler = FileHandler()
    recipe = handler.deconstruct(text_file)
    assert recipe == {
        "path": text_file.name,
        "mode": "r",
        "encoding": "utf-8",
        "position": text_file.tell(),
    }
    rebuilt = handler.reconstruct(recipe, 1)
    try:
        assert rebuilt.readline() == "second line\n" and rebuilt.encoding == "utf-8"
    finally:
        handler.cleanup(rebuilt)
    assert rebuilt.closed


def test_a_binary_file_has_no_encoding(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x00\x01\x02")
    with path.open("rb") as handle:
        handle.read(1)
        recipe = FileHandler().deconstruct(handle)
    assert recipe["mode"] == "rb" and recipe["encoding"] is None and recipe["position"] == 1
    rebuilt = FileHandler().reconstruct(recipe, 1)
    with rebuilt:
        assert rebuilt.read() == b"\x01\x02"


def test_a_file_opened_for_writing_is_reopened_without_truncating(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with path.open("w") as handle:
        handle.write("written by the producer")
        recipe = FileHandler().deconstruct(handle)  # flushed: the worker sees it
        rebuilt = FileHandler().reconstruct(recipe, 1)
        with rebuilt:
            assert rebuilt.mode == "r+"
            rebuilt.write(" and the worker")
    assert path.read_text() == "written by the producer and the worker"


def test_the_allow_list_compares_whole_path_components(tmp_path: Path) -> None:
    allowed = tmp_path / "up"
    evil = tmp_path / "uploads-evil"
    allowed.mkdir()
    evil.mkdir()
    (allowed / "ok.txt").write_text("ok")
    (evil / "x.txt").write_text("x")
    handler = FileHandler([str(allowed)])
    with handler.reconstruct({"path": str(allowed / "ok.txt"), "mode": "r"}, 1) as ok:
        assert ok.read() == "ok"
    with pytest.raises(PermissionError, match="outside file_path_allowlist") as raised:
        handler.reconstruct({"path": str(evil / "x.txt"), "mode": "r"}, 1)
    assert str(evil / "x.txt") in str(raised.value)


def test_a_symlink_out_of_the_allow_list_is_refused(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (allowed / "link.txt").symlink_to(secret)
    with pytest.raises(PermissionError, match="outside file_path_allowlist"):
        FileHandler([str(allowed)]).reconstruct({"path": str(allowed / "link.txt"), "mode": "r"}, 1)


def test_a_relative_path_in_a_recipe_is_refused() -> None:
    with pytest.raises(PermissionError, match="not absolute"):
        FileHandler().reconstruct({"path": "notes.txt", "mode": "r"}, 1)


# --- loggers and HTTP clients -----------------------------------------------------------------


def test_a_logger_is_the_worker_logger_of_that_name() -> None:
    handler = LoggerHandler()
    fresh = logging.getLogger("taskito.tests.proxy.fresh")
    recipe = {"name": fresh.name, "level": logging.ERROR}
    try:
        assert handler.reconstruct(recipe, 1) is fresh and fresh.level == logging.ERROR
        configured = logging.getLogger("taskito.tests.proxy.configured")
        configured.setLevel(logging.DEBUG)
        handler.reconstruct({"name": configured.name, "level": logging.ERROR}, 1)
        assert configured.level == logging.DEBUG  # the worker's own setting stays
        assert handler.cleanup(fresh) is None
    finally:
        fresh.setLevel(logging.NOTSET)
        logging.getLogger("taskito.tests.proxy.configured").setLevel(logging.NOTSET)


def test_a_requests_session_crosses_without_its_credentials() -> None:
    handler = RequestsSessionHandler()
    with requests.Session() as session:
        session.headers.update({"Authorization": "Bearer s3cret", "X-Trace": "t1"})
        session.headers["X-Auth-Token"] = "s3cret"
        session.cookies.set("sid", "s3cret")
        session.verify = False
        session.max_redirects = 7
        assert handler.detect(session)
        recipe = handler.deconstruct(session)
    assert "s3cret" not in repr(recipe) and recipe["headers"]["X-Trace"] == "t1"
    assert recipe["verify"] is False and recipe["max_redirects"] == 7
    rebuilt = handler.reconstruct(recipe, 1)
    try:
        assert rebuilt.headers["X-Trace"] == "t1" and "Authorization" not in rebuilt.headers
        assert rebuilt.verify is False and rebuilt.max_redirects == 7
    finally:
        handler.cleanup(rebuilt)


def test_an_httpx_client_is_rebuilt_as_the_same_kind() -> None:
    handler = HttpxClientHandler()
    with httpx.Client(
        base_url="http://127.0.0.1:9", headers={"X-A": "1", "Authorization": "Basic x"}
    ) as client:
        recipe = handler.deconstruct(client)
    assert recipe["is_async"] is False and "authorization" not in recipe["headers"]
    rebuilt = handler.reconstruct(recipe, 1)
    assert isinstance(rebuilt, httpx.Client) and str(rebuilt.base_url) == "http://127.0.0.1:9"
    assert handler.cleanup(rebuilt) is None and rebuilt.is_closed


def test_an_async_httpx_client_is_closed_with_aclose() -> None:
    handler = HttpxClientHandler()

    async def made() -> dict[str, Any]:
        async with httpx.AsyncClient(follow_redirects=True) as client:
            return handler.deconstruct(client)

    recipe = asyncio.run(made())
    assert recipe["is_async"] is True and recipe["follow_redirects"] is True
    rebuilt = handler.reconstruct(recipe, 1)
    assert isinstance(rebuilt, httpx.AsyncClient)
    cleanup_proxies([(handler, rebuilt)])  # the aclose() coroutine runs to completion
    assert rebuilt.is_closed


# --- the registry -----------------------------------------------------------------------------


def test_the_registry_finds_handlers_by_name_and_by_object(
    registry: ProxyRegistry, recorder: Recorder
) -> None:
    assert registry.get("recorder") is recorder and registry.get("nope") is None
    assert registry.find_handler(bytearray(b"x")) is recorder
    assert registry.find_handler(logging.getLogger("r")).name == "logger"  # type: ignore[union-attr]
    assert registry.find_handler(object()) is None
    newer = Recorder()
    registry.register(newer)
    assert registry.get("recorder") is newer  # the last registration wins
    with pytest.raises(TypeError, match="lacks some"):
        registry.register(object())  # type: ignore[arg-type]


def test_the_built_in_handlers_in_order_and_disabled_ones_skipped() -> None:
    made = ProxyRegistry()
    register_builtin_handlers(made)
    assert made.names() == ["file", "logger", "requests_session", "httpx_client"]
    fewer = ProxyRegistry()
    register_builtin_handlers(fewer, disabled_proxies=["logger", "httpx_client"])
    assert fewer.names() == ["file", "requests_session"]
    with pytest.raises(ValueError, match="unknown proxy handlers \\['ftp'\\]"):
        register_builtin_handlers(ProxyRegistry(), disabled_proxies=["ftp"])


@pytest.fixture(scope="module")
def bare_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only taskito and cloudpickle: no requests, httpx or boto3."""
    root = tmp_path_factory.mktemp("bare")
    for package in (taskito, cloudpickle):
        assert package.__file__ is not None
        (root / package.__name__).symlink_to(Path(package.__file__).parent)
    return root


def test_handlers_of_absent_libraries_are_skipped_cleanly(bare_path: Path) -> None:
    source = (
        "import sys\n"
        "from taskito import Queue\n"
        "q = Queue(db_path=sys.argv[1], interception='strict')\n"
        "print(q._interception.proxies.names())\n"
        "print(q.enqueue('t', args=(1,)).id is not None)\n"
        "print(sorted(m for m in ('requests', 'httpx', 'boto3') if m in sys.modules))\n"
        "q.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", source, str(bare_path / "q.db")],
        env={**os.environ, "PYTHONPATH": str(bare_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["['file', 'logger']", "True", "[]"]


def test_building_a_queue_imports_no_optional_library(tmp_path: Path) -> None:
    source = (
        "import sys\n"
        "from taskito import Queue\n"
        "Queue(db_path=sys.argv[1], interception='strict').close()\n"
        "print(sorted(m for m in ('requests', 'httpx') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", source, str(tmp_path / "q.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- rebuilding ------------------------------------------------------------------------------


def test_values_without_markers_pass_with_nothing_to_clean(registry: ProxyRegistry) -> None:
    args, kwargs, cleanup = reconstruct_proxies((1, [2]), {"a": {"b": 3}}, registry)
    assert args == (1, [2]) and kwargs == {"a": {"b": 3}} and cleanup == []


def test_a_reference_is_the_same_object_cleaned_once(
    registry: ProxyRegistry, recorder: Recorder
) -> None:
    ref = {"__taskito_ref__": "id-1"}
    args, kwargs, cleanup = reconstruct_proxies(
        (marker("v"), [ref]), {"again": ref, "nested": {"deep": (ref,)}}, registry
    )
    assert args[1][0] is args[0] and kwargs["again"] is args[0]
    assert kwargs["nested"]["deep"][0] is args[0]
    assert len(cleanup) == 1 and len(recorder.rebuilt) == 1


def test_an_unknown_reference_or_handler_is_refused(registry: ProxyRegistry) -> None:
    with pytest.raises(ProxyReconstructionError, match="reference to proxy 'ghost'"):
        reconstruct_proxies(({"__taskito_ref__": "ghost"},), {}, registry)
    unknown = {**marker("v"), "handler": "ftp"}
    with pytest.raises(ProxyReconstructionError, match="No proxy handler registered for 'ftp'"):
        reconstruct_proxies((unknown,), {}, registry)
    with pytest.raises(ProxyReconstructionError, match="malformed proxy marker, missing 'recipe'"):
        reconstruct_proxies(
            ({"__taskito_proxy__": True, "handler": "x", "version": 1},), {}, registry
        )


def test_a_disabled_handler_is_named_on_the_worker() -> None:
    registry = ProxyRegistry(disabled={"recorder"})
    with pytest.raises(ProxyReconstructionError, match="'recorder' is disabled on this worker"):
        reconstruct_proxies((marker("v"),), {}, registry)


def test_with_a_key_a_signed_recipe_is_rebuilt_and_a_tampered_one_never(
    registry: ProxyRegistry, recorder: Recorder
) -> None:
    walker = ArgumentWalker(build_default_registry(), proxy_registry=registry, signing_secret="k")
    # The walker signs what it proxies; a handler of its own type table is needed for that.
    walker._registry.register(bytearray, "proxy", priority=20, proxy_handler="recorder")
    args, _, _ = walker.walk((bytearray(b"original"),), {})
    signed = args[0]
    metrics = ProxyMetrics()
    rebuilt, _, cleanup = reconstruct_proxies((signed,), {}, registry, signing_secret="k")
    assert rebuilt[0] == bytearray(b"original")
    cleanup_proxies(cleanup)
    tampered = {**signed, "recipe": {"value": "/etc/shadow"}}
    with pytest.raises(ProxyReconstructionError, match="checksum mismatch") as raised:
        reconstruct_proxies((tampered,), {}, registry, signing_secret="k", metrics=metrics)
    assert raised.value.retryable is False
    assert recorder.rebuilt == [{"value": "original"}]  # the tampered recipe was never rebuilt
    assert metrics.to_list()[0]["total_checksum_failures"] == 1


def test_with_a_key_an_unsigned_recipe_is_refused(registry: ProxyRegistry) -> None:
    with pytest.raises(ProxyReconstructionError, match="missing checksum \\(signing is enabled\\)"):
        reconstruct_proxies((marker("v"),), {}, registry, signing_secret="k")


def test_a_recipe_is_checked_against_the_handler_schema(registry: ProxyRegistry) -> None:
    bad = {**marker("v"), "recipe": {"value": 5}}
    with pytest.raises(ProxyReconstructionError, match="'value' expected str"):
        reconstruct_proxies((bad,), {}, registry)


def test_an_older_recipe_is_migrated(registry: ProxyRegistry, recorder: Recorder) -> None:
    args, _, _ = reconstruct_proxies((marker("v", version=1),), {}, registry)
    assert args[0] == bytearray(b"v@v1->v2")


def test_a_handler_error_is_wrapped_and_retryable(recorder: Recorder) -> None:
    registry = ProxyRegistry()
    registry.register(Recorder(fail=True))
    metrics = ProxyMetrics()
    with pytest.raises(ProxyReconstructionError, match="Failed to reconstruct proxy 'recorder'"):
        reconstruct_proxies((marker("v"),), {}, registry, metrics=metrics)
    (stats,) = metrics.to_list()
    assert stats["total_reconstructions"] == 1 and stats["total_errors"] == 1


def test_a_rebuild_past_the_time_limit_gives_up_at_the_limit() -> None:
    gate = threading.Event()
    slow = Recorder(gate=gate)
    registry = ProxyRegistry()
    registry.register(slow)
    started = time.monotonic()
    try:
        with pytest.raises(ProxyReconstructionError, match=r"timed out after 0\.2s") as raised:
            reconstruct_proxies((marker("v"),), {}, registry, max_timeout=0.2)
        assert time.monotonic() - started < 2.0 and raised.value.retryable
    finally:
        gate.set()
    # The late object is cleaned up once its rebuild ends, not handed to anyone.
    wait_until(lambda: slow.cleaned == [bytearray(b"v")], message="the late rebuild cleaned up")


def test_when_one_rebuild_fails_the_ones_before_are_cleaned_up(
    registry: ProxyRegistry, recorder: Recorder
) -> None:
    with pytest.raises(ProxyReconstructionError):
        reconstruct_proxies((marker("ok"), {**marker("x", "id-2"), "handler": "ftp"}), {}, registry)
    assert recorder.cleaned == [bytearray(b"ok")]


def test_cleanup_runs_in_reverse_and_never_raises(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = ProxyMetrics()
    items = [bytearray(b"a"), bytearray(b"bad-cleanup"), bytearray(b"c")]
    with caplog.at_level(logging.ERROR, logger="taskito.proxies"):
        cleanup_proxies([(recorder, item) for item in items], metrics)
    assert recorder.cleaned == list(reversed(items))
    assert metrics.to_list()[0]["total_cleanup_errors"] == 1
    assert "cleaning up a rebuilt 'recorder' proxy failed" in caplog.text
