"""The dashboard mounted inside another ASGI app, and behind a proxy that strips a prefix:
every link, asset, redirect and cookie follows the prefix."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from taskito import Queue
from taskito.dashboard import Users, create_app
from tests.dashboard.harness import ADMIN, Client, serve


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("the user's own app")


def test_mounted_under_a_prefix(queue: Queue, users: Users) -> None:
    outer = Starlette(routes=[Route("/", home), Mount("/ops/taskito", app=create_app(queue))])
    with serve(outer) as port:
        client = Client(port)
        assert client.get("/").text == "the user's own app"
        reply = client.get("/ops/taskito/jobs")
        assert reply.status == 303 and reply.header("location") == "/ops/taskito/login"
        page = client.get("/ops/taskito/login")
        assert 'action="/ops/taskito/login"' in page.text
        assert 'href="/ops/taskito/static/login.css"' in page.text
        assert "Path=/ops/taskito" in page.set_cookies()["taskito_csrf"]
        assert client.get("/ops/taskito/static/login.css").status == 200
        login = client.login(*ADMIN, root="/ops/taskito")
        assert login.status == 200
        assert "Path=/ops/taskito" in login.set_cookies()["taskito_session"]
        shell = client.get("/ops/taskito/")
        assert '<meta name="taskito-root" content="/ops/taskito">' in shell.text
        assert 'src="/ops/taskito/static/app.js"' in shell.text
        assert client.get("/ops/taskito/api/stats").status == 200
        assert client.post("/ops/taskito/api/queues/default/pause").status == 200
    assert queue.paused_queues() == ["default"]


def test_behind_a_proxy_that_strips_the_prefix(queue: Queue) -> None:
    with serve(create_app(queue), root_path="/proxied") as port:
        client = Client(port)
        shell = client.get("/")
        assert 'href="/proxied/static/app.css"' in shell.text
        assert "Path=/proxied" in shell.set_cookies()["taskito_csrf"]
        assert client.get("/api/stats").status == 200
