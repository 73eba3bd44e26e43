"""``TaskitoRouter`` as configured: the routes it serves and their names, choosing routes,
dependencies on every route, ``APIRouter`` keywords, the OpenAPI schema, refused options, and
the import without FastAPI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from taskito import Queue
from taskito.contrib.fastapi import ROUTE_NAMES, TaskitoRouter
from tests.contrib.fastapi_support import PREFIX, make_app

#: (method, path, route name) of every route.
ROUTES = {
    ("GET", "/stats", "stats"),
    ("GET", "/stats/queues", "queue-stats"),
    ("GET", "/jobs/{job_id}", "jobs"),
    ("GET", "/jobs/{job_id}/errors", "job-errors"),
    ("GET", "/jobs/{job_id}/result", "job-result"),
    ("GET", "/jobs/{job_id}/progress", "job-progress"),
    ("POST", "/jobs/{job_id}/cancel", "cancel"),
    ("GET", "/dead-letters", "dead-letters"),
    ("POST", "/dead-letters/{dead_id}/retry", "retry-dead"),
    ("GET", "/health", "health"),
    ("GET", "/readiness", "readiness"),
    ("GET", "/resources", "resources"),
}


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    opened = Queue(db_path=str(tmp_path / "taskito.db"))
    try:
        yield opened
    finally:
        opened.close()


def served(router: TaskitoRouter) -> set[tuple[str, str, str]]:
    return {
        (method, route.path, route.name.removeprefix("taskito-"))
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }


def test_every_route_is_served_under_its_name(queue: Queue) -> None:
    router = TaskitoRouter(queue)
    assert router.route_names == ROUTE_NAMES
    assert served(router) == ROUTES
    app = FastAPI()
    app.include_router(router, prefix=PREFIX)
    assert app.url_path_for("taskito-job-result", job_id="abc") == "/tasks/jobs/abc/result"


def test_include_routes_serves_only_those(queue: Queue) -> None:
    router = TaskitoRouter(queue, include_routes={"health", "stats"})
    assert router.route_names == ("stats", "health")
    app = FastAPI()
    app.include_router(router, prefix=PREFIX)
    with TestClient(app) as client:
        assert client.get(f"{PREFIX}/stats").status_code == 200
        assert client.get(f"{PREFIX}/health").status_code == 200
        assert client.get(f"{PREFIX}/readiness").status_code == 404
        assert client.get(f"{PREFIX}/dead-letters").status_code == 404
    assert TaskitoRouter(queue, include_routes=[]).routes == []


def test_exclude_routes_leaves_those_out(queue: Queue) -> None:
    router = TaskitoRouter(queue, exclude_routes=["cancel", "retry-dead"])
    assert served(router) == {r for r in ROUTES if r[2] not in ("cancel", "retry-dead")}
    with TestClient(make_app(queue, exclude_routes=("cancel",))) as client:
        job = queue.enqueue("anything")
        assert client.post(f"{PREFIX}/jobs/{job.id}/cancel").status_code == 404
        assert client.get(f"{PREFIX}/jobs/{job.id}").status_code == 200


def test_an_unknown_route_name_is_refused_with_the_valid_ones(queue: Queue) -> None:
    with pytest.raises(ValueError) as raised:
        TaskitoRouter(queue, include_routes={"stats", "job", "metrics"})
    message = str(raised.value)
    assert "include_routes: unknown route names 'job', 'metrics'" in message
    assert "the routes are " + ", ".join(ROUTE_NAMES) in message
    with pytest.raises(ValueError, match=r"exclude_routes: unknown route name 'canel';"):
        TaskitoRouter(queue, exclude_routes={"canel"})


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (
            {"include_routes": {"stats"}, "exclude_routes": {"cancel"}},
            ValueError,
            "pass include_routes or exclude_routes, not both",
        ),
        ({"include_routes": "stats"}, TypeError, "include_routes must be a collection"),
        ({"exclude_routes": 3}, TypeError, "exclude_routes must be a collection"),
        ({"include_routes": ["stats", 1]}, TypeError, "must hold route names"),
        ({"sse_poll_interval": 0}, ValueError, "sse_poll_interval must be a finite positive"),
        ({"sse_poll_interval": float("nan")}, ValueError, "sse_poll_interval must be"),
        ({"sse_poll_interval": "1"}, TypeError, "sse_poll_interval must be a number"),
        ({"result_timeout": -1}, ValueError, "result_timeout must be a finite positive"),
        ({"default_page_size": 0}, ValueError, "default_page_size must be >= 1"),
        ({"max_page_size": 2.5}, TypeError, "max_page_size must be an int"),
        ({"default_page_size": 50, "max_page_size": 10}, ValueError, r"must not exceed"),
        ({"result_serializer": "json"}, TypeError, "result_serializer must be a callable"),
        ({"dependencies": "auth"}, TypeError, r"dependencies must be a list of fastapi\.Depends"),
        ({"dependencies": [print]}, TypeError, r"dependencies must hold fastapi\.Depends"),
    ],
)
def test_bad_options_are_refused(
    queue: Queue, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        TaskitoRouter(queue, **options)


def test_the_queue_must_be_a_queue() -> None:
    with pytest.raises(TypeError, match=r"queue must be a taskito\.Queue, not str"):
        TaskitoRouter("jobs.db")  # type: ignore[arg-type]


def require_api_key(x_api_key: str | None = Header(None)) -> None:
    if x_api_key != "secret":
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")


def test_dependencies_guard_every_route(queue: Queue) -> None:
    job = queue.enqueue("anything")
    queue.cancel(job.id)  # finished: its progress stream ends at once
    app = make_app(queue, dependencies=[Depends(require_api_key)])
    with TestClient(app) as client:
        for method, path, name in sorted(ROUTES):
            url = PREFIX + path.format(job_id=job.id, dead_id="no-such-letter")
            refused = client.request(method, url)
            assert (refused.status_code, refused.json()) == (
                401,
                {"detail": "missing or wrong X-API-Key"},
            ), name
            admitted = client.request(method, url, headers={"X-API-Key": "secret"})
            assert admitted.status_code in (200, 404), (name, admitted.text)


def test_router_keywords_reach_the_api_router(queue: Queue) -> None:
    assert TaskitoRouter(queue).tags == ["taskito"]
    assert TaskitoRouter(queue, tags=["jobs"]).tags == ["jobs"]
    app = FastAPI()
    app.include_router(TaskitoRouter(queue, prefix="/queue"), prefix="/api")
    with TestClient(app) as client:
        assert client.get("/api/queue/health").json() == {"status": "ok"}


def test_the_openapi_schema_shows_the_limits(queue: Queue) -> None:
    with TestClient(make_app(queue, default_page_size=5, max_page_size=50)) as client:
        schema = client.get("/openapi.json").json()

    def parameter(path: str, name: str) -> dict[str, Any]:
        [found] = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
        return dict(found["schema"])

    limit = parameter(f"{PREFIX}/dead-letters", "limit")
    assert (limit["default"], limit["minimum"], limit["maximum"]) == (5, 1, 50)
    timeout = parameter(f"{PREFIX}/jobs/{{job_id}}/result", "timeout")
    assert (timeout["default"], timeout["minimum"], timeout["maximum"]) == (0.0, 0, 300.0)


def test_importing_without_fastapi_names_the_extra() -> None:
    # A None entry in sys.modules makes `import fastapi` fail, as when it is not installed.
    code = "import sys; sys.modules['fastapi'] = None; import taskito.contrib.fastapi"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert (
        "ImportError: taskito.contrib.fastapi needs the 'fastapi' package, which is not "
        'installed: pip install "pytaskito[fastapi]"'
    ) in done.stderr
