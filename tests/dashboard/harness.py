"""A real uvicorn server in a thread, and an HTTP client on ``http.client`` that keeps
cookies and sends the CSRF header the way the pages do, for the dashboard tests."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from tests.helpers import wait_until

CSRF_COOKIE = "taskito_csrf"
SESSION_COOKIE = "taskito_session"
#: The cost of passwords made by the tests (production uses passwords.DEFAULT_COST).
TEST_PASSWORD_COST = 2**4
ADMIN = ("ada", "admin-password-1")
VIEWER = ("vic", "viewer-password-1")


@contextmanager
def serve(app: ASGIApp, *, root_path: str = "") -> Iterator[int]:
    """Serve ``app`` on a free loopback port for the block; yield the port. The server
    stops and its thread is joined afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        root_path=root_path,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-uvicorn")
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout_s=10)
        assert server.started, "uvicorn did not start"
        yield port
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def set_cookies(self) -> dict[str, str]:
        """Each cookie this reply sets: name -> the whole Set-Cookie value."""
        found = {}
        for key, value in self.headers:
            if key.lower() == "set-cookie":
                found[value.split("=", 1)[0]] = value
        return found

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Client:
    """HTTP to one dashboard; keeps the cookies it is given; on POST/PUT/DELETE sends the
    CSRF cookie back in ``X-CSRF-Token`` (as the pages do) unless told otherwise."""

    port: int
    host_header: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        csrf: bool = True,
    ) -> Reply:
        sent = {"Connection": "close"}
        if self.host_header is not None:
            sent["Host"] = self.host_header
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if csrf and method != "GET" and CSRF_COOKIE in self.cookies:
            sent["X-CSRF-Token"] = self.cookies[CSRF_COOKIE]
        sent.update(headers or {})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest(method, path, skip_host="Host" in sent)
            if body is not None and "Content-Length" not in sent:
                sent["Content-Length"] = str(len(body))
            for key, value in sent.items():
                connection.putheader(key, value)
            connection.endheaders(body)
            response = connection.getresponse()
            reply = Reply(response.status, response.getheaders(), response.read())
        finally:
            connection.close()
        self._keep_cookies(reply)
        return reply

    def _keep_cookies(self, reply: Reply) -> None:
        for name, value in reply.set_cookies().items():
            cookie_value = value.split(";", 1)[0].split("=", 1)[1].strip('"')
            if "max-age=0" in value.lower() or not cookie_value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie_value

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, json_body=json_body, **kwargs)

    def put(self, path: str, json_body: Any = None, **kwargs: Any) -> Reply:
        return self.request("PUT", path, json_body=json_body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)

    def prime(self, root: str = "") -> None:
        """Take a CSRF cookie, as opening any page does."""
        reply = self.get(root + "/api/auth/status")
        assert reply.status == 200, reply.body
        assert CSRF_COOKIE in self.cookies

    def login(self, name: str, password: str, root: str = "") -> Reply:
        self.prime(root)
        return self.post(root + "/api/auth/login", {"username": name, "password": password})


class Forwarder:
    """A TCP forwarder to a real server; ``cut()`` closes it and every connection through
    it, as a network outage would. Its threads are joined by ``cut()``."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._accept, name="test-forward-accept")]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            pumps = [
                threading.Thread(target=_pump, args=(a, b), name="test-forward-pump")
                for a, b in ((client, server), (server, client))
            ]
            with self._lock:
                self._sockets += [client, server]
                self._threads += pumps
            for pump in pumps:
                pump.start()

    def cut(self) -> None:
        if self._listener.fileno() != -1:
            self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            threads = list(self._threads)
        for thread in threads:
            thread.join(10)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
