"""One webhook POST with the standard library: the host is resolved and every address checked,
the connection goes to a checked address (so the check still holds when the name changes, as
in DNS rebinding), and HTTP keeps the URL's host for the Host header and, over TLS, for SNI and
the certificate check. ``Interrupt`` lets another thread stop a delivery at any step."""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from taskito.webhooks.addresses import CheckedAddress, resolve
from taskito.webhooks.webhook import Webhook

#: How often a connect in progress looks at its ``Interrupt``.
_CONNECT_POLL_S = 0.05
_CONNECT_PENDING = frozenset({0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN})


class InterruptedDeliveryError(Exception):
    """The delivery was stopped from another thread (the manager is closing)."""


class Interrupt:
    """Stops one delivery thread's work from another thread: its back-off sleeps end, and the
    socket it is using is shut down so that a blocked read or write returns at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; False when interrupted before they passed."""
        return not self._event.wait(seconds)

    def trigger(self) -> None:
        self._event.set()
        with self._lock:  # held, so the delivery thread cannot close the socket meanwhile
            if self._socket is not None:
                _shut_down(self._socket)

    @contextmanager
    def watching(self, sock: socket.socket) -> Iterator[None]:
        """While the block runs, ``trigger()`` shuts ``sock`` down."""
        with self._lock:
            self._socket = sock
            if self._event.is_set():
                _shut_down(sock)
        try:
            yield
        finally:
            with self._lock:
                self._socket = None


def _shut_down(sock: socket.socket) -> None:
    # Not connected yet, or already closed: nothing to stop. The plain socket method, also
    # for an SSLSocket: its own shutdown() would tear down the TLS object under a thread
    # that may be reading through it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Connection(http.client.HTTPConnection):
    """``http.client`` over a socket opened beforehand; the Host header names the URL's host."""

    def __init__(self, webhook: Webhook, sock: socket.socket) -> None:
        super().__init__(webhook.host, webhook.port, timeout=webhook.timeout_s)
        self.default_port = 443 if webhook.tls else 80
        self._opened = sock

    def connect(self) -> None:
        self.sock = self._opened


def post(
    webhook: Webhook,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tls_context: Callable[[], ssl.SSLContext],
    interrupt: Interrupt,
) -> int:
    """POST ``body`` to ``webhook`` and return the response's status code.

    Raises ``RefusedAddressError`` (from ``addresses``) when the host is not allowed,
    ``InterruptedDeliveryError`` when interrupted, and ``OSError`` or
    ``http.client.HTTPException`` when the endpoint cannot be reached or answers badly.
    ``webhook.timeout_s`` bounds the connect and each read or write.
    """
    addresses = resolve(webhook.host, webhook.port, allow_private=webhook.allow_private)
    sock = _connect_any(addresses, webhook.timeout_s, interrupt)
    try:
        if webhook.tls:
            sock = tls_context().wrap_socket(
                sock, server_hostname=webhook.host, do_handshake_on_connect=False
            )
        with interrupt.watching(sock):
            try:
                return _exchange(webhook, sock, body, headers)
            except (OSError, http.client.HTTPException):
                if interrupt.is_set:
                    raise InterruptedDeliveryError from None
                raise
    finally:
        sock.close()


def _exchange(
    webhook: Webhook, sock: socket.socket, body: bytes, headers: Mapping[str, str]
) -> int:
    if isinstance(sock, ssl.SSLSocket):
        sock.do_handshake()
    connection = _Connection(webhook, sock)
    try:
        connection.request("POST", webhook.target, body=body, headers=dict(headers))
        response = connection.getresponse()
        # The body is not read: the connection is closed, never reused.
        return response.status
    finally:
        connection.close()


def _connect_any(
    addresses: list[CheckedAddress], timeout_s: float, interrupt: Interrupt
) -> socket.socket:
    """A socket connected to the first address of ``addresses`` that answers."""
    last_error: OSError | None = None
    for address in addresses:
        try:
            return _connect(address, timeout_s, interrupt)
        except InterruptedDeliveryError:
            raise
        except OSError as exc:
            last_error = exc
    assert last_error is not None  # resolve() never returns an empty list
    raise last_error


def _connect(address: CheckedAddress, timeout_s: float, interrupt: Interrupt) -> socket.socket:
    """Connect without blocking for longer than ``_CONNECT_POLL_S`` between interrupt checks."""
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        code = sock.connect_ex(address.sockaddr)
        if code not in _CONNECT_PENDING:
            raise OSError(code, f"connecting to {address.ip}: {os.strerror(code)}")
        if code != 0:
            _wait_connected(sock, address, timeout_s, interrupt)
        sock.settimeout(timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except BaseException:
        sock.close()
        raise


def _wait_connected(
    sock: socket.socket, address: CheckedAddress, timeout_s: float, interrupt: Interrupt
) -> None:
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_WRITE)
        while not selector.select(min(_CONNECT_POLL_S, max(0.0, deadline - time.monotonic()))):
            if interrupt.is_set:
                raise InterruptedDeliveryError
            if time.monotonic() >= deadline:
                raise TimeoutError(f"connecting to {address.ip} timed out after {timeout_s}s")
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, f"connecting to {address.ip}: {os.strerror(code)}")


__all__ = ["Interrupt", "InterruptedDeliveryError", "post"]
