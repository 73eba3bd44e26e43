"""Security by default, over real HTTP: the headers on every kind of response, no CORS, the
DNS-rebinding guard of the open mode, CSRF on every mutation, the 1 MiB body cap, the asset
path rules, safe log lines, and the refusal to serve a non-loopback address unprotected."""

from __future__ import annotations

import http.client
import logging
import os
from pathlib import Path

import pytest
from starlette.requests import Request

from taskito import ConfigurationError, Queue
from taskito.dashboard import Users, create_app, serve_dashboard
from taskito.dashboard.auth import Sessions
from taskito.dashboard.server.config import DashboardConfig
from taskito.dashboard.server.gate import Gate
from taskito.dashboard.server.security import host_allowed, is_loopback, safe_path
from taskito.dashboard.server.serve import check_bind
from taskito.dashboard.server.static import StaticAssets, check_asset_path
from tests.dashboard.harness import TEST_PASSWORD_COST, Client, Reply, serve
from tests.helpers import wait_until

EXPECTED_HEADERS = {
    "content-security-policy": "default-src 'self'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'; object-src 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def assert_secure_headers(reply: Reply) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert reply.header(name) == value, (name, reply.status)
    assert reply.header("access-control-allow-origin") is None
    assert reply.header("server") is None


def test_every_kind_of_response_carries_the_security_headers(client: Client) -> None:
    evil = {"Origin": "http://evil.example"}
    replies = [
        client.get("/health", headers=evil),
        client.get("/api/stats", headers=evil),
        client.get("/api/jobs?limit=x"),  # 400
        client.get("/api/jobs/nope"),  # 404
        client.delete("/api/stats"),  # 405
        client.request("OPTIONS", "/api/stats", headers=evil),  # no CORS preflight
        client.put("/api/settings/k", headers={"Content-Length": str(2 * 1024 * 1024)}),  # 413
        client.post("/api/queues/q/pause", csrf=False),  # 403
        client.get("/"),  # the page shell
        client.get("/jobs/some-client-route"),
        client.get("/static/app.css"),
        client.get("/static/missing.js"),  # 404
        client.get("/login"),  # redirect: authentication is off
    ]
    statuses = [reply.status for reply in replies]
    assert statuses == [200, 200, 400, 404, 405, 405, 413, 403, 200, 200, 200, 404, 303]
    for reply in replies:
        assert_secure_headers(reply)


def test_api_answers_are_never_cached_and_pages_revalidate(client: Client) -> None:
    assert client.get("/api/stats").header("cache-control") == "no-store"
    assert client.get("/").header("cache-control") == "no-cache"
    assert client.get("/static/app.js").header("content-type") == "text/javascript; charset=utf-8"


def test_the_page_shell_is_served_for_client_routes(client: Client) -> None:
    for path in ("/", "/jobs", "/jobs/0190-abc", "/dead-letters?group=x"):
        reply = client.get(path)
        assert reply.status == 200
        assert 'href="/static/app.css"' in reply.text
        assert '<meta name="taskito-root" content="">' in reply.text


def test_a_missing_bundle_is_a_503_page(queue: Queue, tmp_path: Path) -> None:
    with serve(create_app(queue, static_dir=tmp_path)) as port:
        reply = Client(port).get("/")
    assert reply.status == 503
    assert "pages are missing" in reply.text
    assert_secure_headers(reply)


# --- the open mode's DNS-rebinding guard -------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "10.0.0.8", "[2001:db8::1]"],
)
def test_the_open_mode_refuses_a_host_that_is_not_loopback(open_port: int, host: str) -> None:
    stranger = Client(open_port, host_header=host)
    for path in ("/api/stats", "/api/jobs", "/"):
        reply = stranger.get(path)
        assert reply.status == 403, path
        assert reply.json() == {"error": "host_not_allowed"}
    assert stranger.get("/health").status == 200  # always open


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8080", "127.0.0.1:9", "127.8.9.1", "[::1]:80", "app.localhost"]
)
def test_the_open_mode_answers_loopback_hosts(open_port: int, host: str) -> None:
    assert Client(open_port, host_header=host).get("/api/stats").status == 200


def make_request(client: str, host: str) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/stats",
        "headers": [(b"host", host.encode())],
        "client": (client, 50000),
        "query_string": b"",
        "root_path": "",
    }
    return Request(scope)


def test_the_open_mode_answers_loopback_clients_only(queue: Queue) -> None:
    gate = Gate(DashboardConfig(auth=False), Users(queue), Sessions(queue))
    assert gate.local_request(make_request("127.0.0.1", "localhost"))
    assert gate.local_request(make_request("::1", "127.0.0.1:8080"))
    assert not gate.local_request(make_request("192.0.2.7", "localhost"))
    assert not gate.local_request(make_request("127.0.0.1", "evil.example"))


def test_loopback_and_host_rules() -> None:
    for host in (
        "localhost",
        "LOCALHOST",
        "127.0.0.1",
        "127.255.0.9",
        "::1",
        "[::1]",
        "a.localhost",
    ):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.1.2.3", "example.com", "localhost.example.com", ""):
        assert not is_loopback(host), host
    assert host_allowed("dash.example.com:443", ["dash.example.com"])
    assert host_allowed("a.example.com", [".example.com"])
    assert not host_allowed("example.org", [".example.com"])
    assert not host_allowed(None, None)


# --- CSRF --------------------------------------------------------------------------------


def test_every_mutation_needs_the_csrf_token(queue: Queue, client: Client) -> None:
    job = queue.enqueue("add", args=(1, 1))
    mutations = [
        ("POST", "/api/queues/default/pause"),
        ("POST", f"/api/jobs/{job.id}/cancel"),
        ("POST", f"/api/jobs/{job.id}/replay"),
        ("POST", "/api/dead-letters/purge"),
        ("PUT", "/api/settings/k"),
        ("DELETE", "/api/settings/k"),
    ]
    token = client.cookies["taskito_csrf"]
    for method, path in mutations:
        for headers in ({}, {"X-CSRF-Token": "x" * 43}, {"X-CSRF-Token": ""}):
            reply = client.request(
                method, path, json_body={"value": 1}, headers=headers, csrf=False
            )
            assert reply.status == 403, (method, path, headers)
            assert reply.json() == {"error": "csrf_failed"}
        cross_site = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
        reply = client.request(method, path, json_body={"value": 1}, headers=cross_site, csrf=False)
        assert reply.status == 403
    assert queue.paused_queues() == []
    assert queue.get_job(job.id).status == "pending"  # type: ignore[union-attr]
    same_site = {"Origin": f"http://127.0.0.1:{client.port}"}
    assert client.post("/api/queues/default/pause", headers=same_site).status == 200


def test_a_client_without_the_cookie_cannot_mutate(open_port: int) -> None:
    fresh = Client(open_port)
    reply = fresh.post("/api/queues/default/pause", headers={"X-CSRF-Token": "a" * 43})
    assert reply.status == 403 and reply.json() == {"error": "csrf_failed"}


def test_the_csrf_cookie_is_readable_by_the_page_and_strict(open_port: int) -> None:
    reply = Client(open_port).get("/")
    cookie = reply.set_cookies()["taskito_csrf"]
    assert "SameSite=strict" in cookie and "Path=/" in cookie
    assert "HttpOnly" not in cookie


# --- the body cap ------------------------------------------------------------------------


def test_a_declared_body_over_one_mib_is_413_before_it_is_read(client: Client) -> None:
    declared = {"Content-Length": str(1024 * 1024 + 1), "Content-Type": "application/json"}
    reply = client.request("PUT", "/api/settings/k", headers=declared)  # no body follows
    assert reply.status == 413
    assert reply.json() == {"error": "request body larger than 1048576 bytes"}


def test_a_streamed_body_over_one_mib_is_413(client: Client) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", client.port, timeout=30)
    try:
        connection.putrequest("PUT", "/api/settings/k")
        connection.putheader("Cookie", f"taskito_csrf={client.cookies['taskito_csrf']}")
        connection.putheader("X-CSRF-Token", client.cookies["taskito_csrf"])
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        chunk = b"x" * 65536
        for _ in range(17):  # 1 MiB + 64 KiB, no Content-Length, no end of body
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        response = connection.getresponse()
        assert response.status == 413
    finally:
        connection.close()


def test_a_body_under_the_cap_is_read(client: Client) -> None:
    body = b'{"value": "' + b"x" * (1024 * 1024 - 20) + b'"}'
    reply = client.request("PUT", "/api/settings/k", body=body)
    assert reply.status == 400  # read and parsed: only the 64 KiB value limit refuses it
    assert "65536 bytes" in reply.json()["error"]


# --- asset paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["", "..", "../x", "a/../b", ".", "./app.js", "a//b", "/etc/passwd", "a\\b", "a\x00b",
     "app.js\n", "app\x1b.js", "x" * 300],
)  # fmt: skip
def test_unsafe_asset_paths_are_refused(path: str) -> None:
    assert check_asset_path(path) is None
    assert StaticAssets().resolve(path) is None


def test_safe_asset_paths_resolve_inside_the_folder() -> None:
    assets = StaticAssets()
    resolved = assets.resolve("app.css")
    assert resolved is not None and resolved.parent == assets.root


@pytest.mark.parametrize(
    "raw",
    ["/static/../static/app.js", "/static/%2e%2e/static/app.js", "/static/..%2fapp.js",
     "/static//app.js", "/static/./app.js", "/static/a%5capp.js", "/static/app.js%00",
     "/static/app.js%0a", "/static/%2fetc%2fpasswd"],
)  # fmt: skip
def test_unsafe_asset_paths_are_404_over_http(client: Client, raw: str) -> None:
    reply = client.get(raw)
    assert reply.status == 404, raw
    assert reply.json() == {"error": "Asset not found"}


def test_a_link_out_of_the_asset_folder_is_not_followed(queue: Queue, tmp_path: Path) -> None:
    folder = tmp_path / "assets"
    folder.mkdir()
    (folder / "index.html").write_text("<p>shell</p>")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    os.symlink(secret, folder / "leak.txt")
    with serve(create_app(queue, static_dir=folder)) as port:
        reply = Client(port).get("/static/leak.txt")
    assert reply.status == 404
    assert b"do not serve" not in reply.body


# --- log lines ---------------------------------------------------------------------------


def test_safe_path_strips_control_characters_and_truncates() -> None:
    assert safe_path("/api/jobs\r\nFAKE LOG LINE\x1b[31m") == "/api/jobsFAKE LOG LINE[31m"
    assert safe_path("/a\u2028b\u202ec\x7fd\x85e\tf") == "/abcdef"
    assert len(safe_path("/" + "x" * 1000)) == 256


def test_request_lines_are_logged_with_safe_paths(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="taskito.dashboard"):
        client.get("/api/jobs%0d%0aINJECTED%1b/x")

        def logged() -> list[str]:
            records = [r.getMessage() for r in caplog.records if r.name == "taskito.dashboard"]
            return [line for line in records if "INJECTED" in line]

        lines = wait_until(logged)  # logged once the answer is sent
    assert all("\n" not in line and "\r" not in line and "\x1b" not in line for line in lines)


# --- the bind rule -----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "dashboard.example.com"])
def test_serving_a_public_address_without_users_is_refused(queue: Queue, host: str) -> None:
    with pytest.raises(ConfigurationError, match=r"refusing to serve the dashboard on .* without"):
        serve_dashboard(queue, host=host, port=0)


def test_serving_a_public_address_with_auth_off_is_refused(queue: Queue) -> None:
    Users(queue, password_cost=TEST_PASSWORD_COST).create("ada", "admin-password-1", "admin")
    with pytest.raises(ConfigurationError, match="auth=False"):
        serve_dashboard(queue, host="0.0.0.0", port=0, auth=False)
    check_bind(queue, "0.0.0.0", None)  # a user exists: allowed
    check_bind(queue, "127.0.0.1", False)  # loopback: always allowed


def test_serve_dashboard_checks_its_arguments(queue: Queue) -> None:
    with pytest.raises(ValueError, match="port"):
        serve_dashboard(queue, port=70000)
    with pytest.raises(TypeError, match="host"):
        serve_dashboard(queue, host="")
    with pytest.raises(TypeError, match=r"taskito\.Queue"):
        create_app("not a queue")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="auth"):
        create_app(queue, auth="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="session_ttl_s"):
        create_app(queue, session_ttl_s=1)
    with pytest.raises(ValueError, match="allowed_hosts"):
        create_app(queue, allowed_hosts=["a/b"])
    with pytest.raises(TypeError, match="allowed_hosts"):
        create_app(queue, allowed_hosts="example.com")
