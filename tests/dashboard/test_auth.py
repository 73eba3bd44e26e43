"""Authentication and roles over real HTTP: the login page and its form, the JSON sign-in,
sessions in strict HttpOnly cookies, 401 for strangers, the viewer refused every mutation,
bearer tokens, logout, sessions ended by account changes, and the ``auth`` modes."""

from __future__ import annotations

import html
import re

import pytest

from taskito import Queue
from taskito.dashboard import Users, create_app
from taskito.dashboard.api.routes import ROUTES
from taskito.dashboard.auth import Sessions
from tests.dashboard.harness import ADMIN, TEST_PASSWORD_COST, VIEWER, Client, serve
from tests.helpers import wait_until

MISSING_JOB = "01900000-0000-7000-8000-000000000000"


def concrete(path: str) -> str:
    return (
        path.replace("{job_id}", MISSING_JOB)
        .replace("{dead_id}", "none")
        .replace("{name}", "default")
        .replace("{key:path}", "some.key")
    )


def test_strangers_get_401_on_every_route_but_health(secured_port: int) -> None:
    stranger = Client(secured_port)
    stranger.prime()
    for route in ROUTES:
        reply = stranger.request(route.method, concrete(route.path), json_body={"value": 1})
        if route.access == "public":
            assert reply.status == 200, route.path
        else:
            assert reply.status == 401, (route.method, route.path)
            assert reply.json() == {"error": "not_authenticated"}


def test_strangers_are_sent_to_the_login_page(secured_port: int) -> None:
    stranger = Client(secured_port)
    reply = stranger.get("/jobs/123")
    assert reply.status == 303 and reply.header("location") == "/login"
    assert stranger.get("/static/login.css").status == 200  # assets hold no data
    page = stranger.get("/login")
    assert page.status == 200
    assert page.header("content-type") == "text/html; charset=utf-8"
    assert '<form method="post" action="/login">' in page.text
    assert 'href="/static/login.css"' in page.text
    assert "<script" not in page.text and "style=" not in page.text
    hidden = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert hidden is not None and hidden.group(1) == stranger.cookies["taskito_csrf"]


def form_login(client: Client, name: str, password: str, csrf: str | None = None) -> object:
    client.get("/login")
    token = client.cookies["taskito_csrf"] if csrf is None else csrf
    body = f"csrf_token={token}&username={name}&password={password}".encode()
    return client.request(
        "POST",
        "/login",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        csrf=False,
    )


def test_the_login_form_starts_a_session(secured_port: int) -> None:
    browser = Client(secured_port)
    reply = form_login(browser, *ADMIN)
    assert reply.status == 303 and reply.header("location") == "/"  # type: ignore[attr-defined]
    cookies = reply.set_cookies()  # type: ignore[attr-defined]
    session = cookies["taskito_session"]
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
    assert "Secure" not in session  # plain http, secure_cookies not set
    assert "HttpOnly" not in cookies["taskito_csrf"]
    assert browser.get("/api/stats").status == 200
    shell = browser.get("/")
    assert shell.status == 200 and "app.js" in shell.text


def test_the_login_form_refuses_bad_credentials_and_a_missing_token(secured_port: int) -> None:
    browser = Client(secured_port)
    wrong = form_login(browser, ADMIN[0], "not-the-password")
    assert wrong.status == 401  # type: ignore[attr-defined]
    assert html.escape("Wrong user name or password.") in wrong.text  # type: ignore[attr-defined]
    assert "taskito_session" not in browser.cookies
    forged = form_login(browser, *ADMIN, csrf="f" * 43)
    assert forged.status == 403  # type: ignore[attr-defined]
    assert "taskito_session" not in browser.cookies


def test_json_login_and_its_refusals(secured_port: int) -> None:
    client = Client(secured_port)
    assert client.login(ADMIN[0], "wrong-password").json() == {"error": "invalid_credentials"}
    assert client.login("nobody", "whatever-password").status == 401
    no_token = client.post(
        "/api/auth/login", {"username": ADMIN[0], "password": ADMIN[1]}, csrf=False
    )
    assert no_token.status == 403 and no_token.json() == {"error": "csrf_failed"}
    reply = client.login(*ADMIN)
    assert reply.json() == {"user": "ada", "role": "admin"}
    status = client.get("/api/auth/status").json()
    assert status == {"auth_enabled": True, "authenticated": True, "user": "ada", "role": "admin"}


def test_failed_logins_are_throttled(secured_port: int) -> None:
    client = Client(secured_port)
    for _ in range(10):
        assert client.login(ADMIN[0], "wrong-password").status == 401
    reply = client.login(*ADMIN)
    assert reply.status == 429 and reply.json() == {"error": "too_many_attempts"}


def test_a_viewer_reads_but_every_mutation_is_403(queue: Queue, viewer: Client) -> None:
    job = queue.enqueue("add", args=(1, 1))
    assert viewer.get("/api/stats").status == 200
    assert viewer.get(f"/api/jobs/{job.id}").status == 200
    assert viewer.get(f"/api/jobs/{job.id}/arguments").json()["args"] == [1, 1]
    admin_routes = [route for route in ROUTES if route.access == "admin"]
    assert {route.method for route in admin_routes} == {"POST", "PUT", "DELETE"}
    for route in admin_routes:
        path = concrete(route.path).replace(MISSING_JOB, job.id)
        reply = viewer.request(route.method, path, json_body={"value": 1})
        assert reply.status == 403, (route.method, route.path)
        assert reply.json() == {"error": "forbidden"}
    assert queue.get_job(job.id).status == "pending"  # type: ignore[union-attr]
    assert queue.paused_queues() == []
    assert viewer.get("/api/auth/status").json()["role"] == "viewer"


def test_an_admin_mutates_with_the_session_token_only(queue: Queue, admin: Client) -> None:
    assert admin.post("/api/queues/default/pause").status == 200
    assert queue.paused_queues() == ["default"]
    # A CSRF cookie and header that agree but are not the session's do not pass.
    admin.cookies["taskito_csrf"] = "z" * 43
    reply = admin.post("/api/queues/default/resume")
    assert reply.status == 403 and reply.json() == {"error": "csrf_failed"}
    assert queue.paused_queues() == ["default"]
    # Any page view hands the session's token back.
    admin.get("/api/auth/status")
    assert admin.post("/api/queues/default/resume").status == 200


def test_logout_ends_the_session(admin: Client) -> None:
    session = admin.cookies["taskito_session"]
    reply = admin.post("/api/auth/logout")
    assert reply.status == 200 and reply.json() == {"logged_out": True}
    assert "taskito_session" not in admin.cookies
    admin.cookies["taskito_session"] = session  # replaying the old cookie
    assert admin.get("/api/stats").status == 401


def test_account_changes_end_sessions(users: Users, admin: Client, viewer: Client) -> None:
    users.set_password(VIEWER[0], "a-new-password-2")
    assert viewer.get("/api/stats").status == 401
    assert admin.get("/api/stats").status == 200
    users.set_role(ADMIN[0], "viewer")
    assert admin.get("/api/stats").status == 401
    admin.login(ADMIN[0], ADMIN[1])
    assert admin.post("/api/queues/default/pause").status == 403  # a viewer now
    users.delete(ADMIN[0])
    assert admin.get("/api/stats").status == 401


def test_an_expired_session_is_refused(queue: Queue, users: Users, secured_port: int) -> None:
    token, _ = Sessions(queue, ttl_s=0.001).create(ADMIN[0])
    wait_until(lambda: Sessions(queue).get(token) is None)
    client = Client(secured_port, cookies={"taskito_session": token})
    assert client.get("/api/stats").status == 401


def test_bearer_tokens_act_with_their_role(queue: Queue, users: Users, secured_port: int) -> None:
    reader = users.create_token("grafana", "viewer")
    writer = users.create_token("deploy", "admin")
    assert reader.startswith("tsk_")
    script = Client(secured_port)

    def call(method: str, path: str, token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return script.request(method, path, headers=headers, csrf=False).status

    assert call("GET", "/api/stats", reader) == 200
    assert call("POST", "/api/queues/default/pause", reader) == 403
    assert call("POST", "/api/queues/default/pause", writer) == 200  # no CSRF for a token
    assert queue.paused_queues() == ["default"]
    assert call("GET", "/api/stats", "tsk_not-a-real-token") == 401
    assert script.get("/api/stats", headers={"Authorization": "Basic abc"}).status == 401
    assert users.revoke_token("grafana") == 1
    assert call("GET", "/api/stats", reader) == 401
    assert [t["name"] for t in users.list_tokens()] == ["deploy"]


def test_secure_cookies_when_configured(queue: Queue, users: Users) -> None:
    with serve(create_app(queue, secure_cookies=True)) as port:
        client = Client(port)
        reply = client.login(*ADMIN)
    assert reply.status == 200
    assert "Secure" in reply.set_cookies()["taskito_session"]


def test_auto_mode_turns_authentication_on_when_a_user_appears(
    queue: Queue, client: Client
) -> None:
    assert client.get("/api/stats").status == 200
    assert client.get("/api/auth/status").json()["auth_enabled"] is False
    assert client.login(*ADMIN).status == 400  # nothing to sign in to yet
    Users(queue, password_cost=TEST_PASSWORD_COST).create(*ADMIN, role="admin")
    wait_until(lambda: client.get("/api/stats").status == 401, timeout_s=15, interval_s=0.2)
    assert client.login(*ADMIN).status == 200
    assert client.get("/api/stats").status == 200


def test_auth_true_without_users_admits_nobody(queue: Queue) -> None:
    with serve(create_app(queue, auth=True)) as port:
        client = Client(port)
        assert client.get("/api/stats").status == 401
        assert client.get("/").status == 303


def test_auth_false_ignores_users_and_stays_loopback_only(queue: Queue, users: Users) -> None:
    with serve(create_app(queue, auth=False)) as port:
        assert Client(port).get("/api/stats").status == 200
        assert Client(port, host_header="evil.example").get("/api/stats").status == 403


def test_allowed_hosts_with_authentication(queue: Queue, users: Users) -> None:
    token = users.create_token("bot", "viewer")
    with serve(create_app(queue, allowed_hosts=["dash.example.com"])) as port:
        bearer = {"Authorization": f"Bearer {token}"}
        good = Client(port, host_header="dash.example.com")
        assert good.get("/api/stats", headers=bearer).status == 200
        bad = Client(port, host_header="evil.example")
        reply = bad.get("/api/stats", headers=bearer)
        assert reply.status == 403 and reply.json() == {"error": "host_not_allowed"}


@pytest.mark.parametrize("suffix", ["arguments", "result"])
def test_job_data_needs_a_signed_in_user(queue: Queue, secured_port: int, suffix: str) -> None:
    job = queue.enqueue("add", args=(1, 1))
    assert Client(secured_port).get(f"/api/jobs/{job.id}/{suffix}").status == 401
