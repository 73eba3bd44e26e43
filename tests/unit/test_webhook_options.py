"""Webhook options checked when added, the request-forgery guard's address rules, and what a
delivery sends (body, headers, signature, back-off): no network, no threads."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
from typing import Any

import pytest

from taskito import ConfigurationError, EventType, QueueError
from taskito.webhooks import SIGNATURE_HEADER, Webhook, WebhookManager
from taskito.webhooks.addresses import refusal_reason
from taskito.webhooks.channel import Throttle
from taskito.webhooks.webhook import MAX_BACKOFF_S

PUBLIC = "https://hooks.example.com/in"


def make(url: str = PUBLIC, **options: Any) -> Webhook:
    return Webhook.from_options(url, **options)


# --- the URL ---------------------------------------------------------------------------------


def test_a_url_gives_host_port_and_request_target() -> None:
    hook = make("https://Hooks.Example.com/a/b?token=1#frag")
    assert (hook.tls, hook.host, hook.port, hook.target) == (
        True,
        "hooks.example.com",
        443,
        "/a/b?token=1",
    )
    assert hook.origin == "https://hooks.example.com:443"
    plain = make("http://example.com:8080")
    assert (plain.tls, plain.port, plain.target) == (False, 8080, "/")
    v6 = make("http://[2606:4700::1111]:81/x")
    assert (v6.host, v6.port, v6.origin) == ("2606:4700::1111", 81, "http://[2606:4700::1111]:81")


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://h/", "example.com/x"]
)
def test_only_http_and_https_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match=r"http:// or https://") as raised:
        make(url)
    scheme = url.split("://")[0] if "://" in url else "no scheme"
    assert scheme in str(raised.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "non-empty"),
        ("http://user:pw@example.com/", "credentials"),
        ("http:///path", "no host"),
        ("http://example.com:0/", "port 0"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
        ("http://example.com/a b", "whitespace"),
        ("http://example.com/\r\nX: y", "whitespace or control"),
        ("http://exämple.com/", "ASCII"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make(url)


def test_the_url_is_never_echoed_in_an_error() -> None:
    with pytest.raises(ValueError) as raised:
        make("ftp://hooks.example.com/secret-token-123")
    assert "secret-token-123" not in str(raised.value)


def test_a_url_must_be_a_str() -> None:
    with pytest.raises(TypeError, match="url must be a str"):
        make(b"http://example.com/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.10",
        "169.254.169.254",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[fe80::1]",
    ],
)
def test_an_ip_literal_that_is_not_public_is_refused_when_added(host: str) -> None:
    with pytest.raises(ConfigurationError, match=r"not a public address.*allow_private=True"):
        make(f"http://{host}:8080/")
    assert make(f"http://{host}:8080/", allow_private=True).allow_private


def test_a_public_ip_literal_is_accepted() -> None:
    assert make("http://8.8.8.8/").host == "8.8.8.8"


# --- the other options -----------------------------------------------------------------------


def test_events_take_members_or_their_values() -> None:
    hook = make(events=[EventType.JOB_FAILED, "job.dead"])
    assert hook.events == {EventType.JOB_FAILED, EventType.JOB_DEAD}
    assert hook.wants(EventType.JOB_DEAD) and not hook.wants(EventType.JOB_COMPLETED)
    assert make(events=None).wants(EventType.WORKER_STARTED)


@pytest.mark.parametrize(
    ("events", "error", "message"),
    [
        ("job.failed", TypeError, "not a single str"),
        (EventType.JOB_FAILED, TypeError, "not a single"),
        (5, TypeError, "list of event types"),
        ([], ConfigurationError, "at least one"),
        (["job.exploded"], ConfigurationError, "unknown event type 'job.exploded'.*job.completed"),
        ([1], TypeError, "EventType members"),
    ],
)
def test_bad_events(events: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make(events=events)


@pytest.mark.parametrize(
    ("headers", "error", "message"),
    [
        (["X-A"], TypeError, "dict of str to str"),
        ({"X-A": 1}, TypeError, "map str to str"),
        ({1: "a"}, TypeError, "map str to str"),
        ({"X A": "v"}, ConfigurationError, "not a valid HTTP field name"),
        ({"": "v"}, ConfigurationError, "not a valid HTTP field name"),
        ({"X-A": "a\r\nX-Injected: 1"}, ConfigurationError, "CR, LF or NUL"),
        ({"X-A": "a\nb"}, ConfigurationError, "CR, LF or NUL"),
        ({"X-A": "snowman \u2603"}, ConfigurationError, "Latin-1"),
        ({"content-type": "text/plain"}, ConfigurationError, "set by taskito"),
        ({"X-Taskito-Signature": "sha256=0"}, ConfigurationError, "set by taskito"),
        ({"Host": "evil"}, ConfigurationError, "set by taskito"),
        ({"X-A": "1", "x-a": "2"}, ConfigurationError, "given twice"),
    ],
)
def test_bad_headers(headers: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make(headers=headers)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"secret": 5}, TypeError, "secret must be a str or bytes"),
        ({"secret": ""}, ConfigurationError, "must not be empty"),
        ({"secret": b""}, ConfigurationError, "must not be empty"),
        ({"max_retries": -1}, ConfigurationError, "max_retries must be >= 0"),
        ({"max_retries": 101}, ConfigurationError, "max_retries must be <= 100"),
        ({"max_retries": True}, TypeError, "max_retries must be an int"),
        ({"max_retries": 1.0}, TypeError, "max_retries must be an int"),
        ({"timeout": 0}, ConfigurationError, "timeout must be a finite positive"),
        ({"timeout": -1}, ConfigurationError, "timeout must be a finite positive"),
        ({"timeout": math.nan}, ConfigurationError, "timeout must be a finite positive"),
        ({"timeout": 1e9}, ConfigurationError, "timeout must be at most"),
        ({"timeout": "10"}, TypeError, "timeout must be a number"),
        ({"retry_backoff": 0.5}, ConfigurationError, "retry_backoff must be a finite number >= 1"),
        ({"retry_backoff": math.inf}, ConfigurationError, "retry_backoff must be a finite"),
        ({"retry_backoff": 10**400}, ConfigurationError, "retry_backoff must be a finite"),
        ({"retry_backoff": None}, TypeError, "retry_backoff must be a number"),
        ({"allow_private": 1}, TypeError, "allow_private must be a bool"),
    ],
)
def test_bad_options(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make(**options)


def test_secret_as_str_or_bytes() -> None:
    assert make(secret="k").secret == b"k"
    assert make(secret=bytearray(b"\x00k")).secret == b"\x00k"
    assert make().secret is None


# --- what is sent ----------------------------------------------------------------------------


def test_body_is_the_event_and_the_payload_as_json() -> None:
    hook = make()
    body = hook.body(EventType.JOB_FAILED, {"job_id": "j1", "error": ValueError("x"), "n": 2})
    assert json.loads(body) == {"event": "job.failed", "job_id": "j1", "error": "x", "n": 2}


def test_headers_carry_content_type_custom_headers_and_the_signature() -> None:
    hook = make(headers={"Authorization": "Bearer t"}, secret="s3cret")
    body = hook.body(EventType.JOB_COMPLETED, {"job_id": "j"})
    headers = hook.request_headers(body)
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers == {
        "Content-Type": "application/json",
        "Authorization": "Bearer t",
        SIGNATURE_HEADER: f"sha256={expected}",
    }
    assert SIGNATURE_HEADER not in make().request_headers(body)


def test_backoff_is_a_power_of_retry_backoff_with_a_cap() -> None:
    hook = make(retry_backoff=3.0)
    assert [hook.backoff_s(a) for a in range(4)] == [1.0, 3.0, 9.0, 27.0]
    assert make(retry_backoff=10.0).backoff_s(50) == MAX_BACKOFF_S
    assert make(retry_backoff=1e300).backoff_s(5) == MAX_BACKOFF_S


def test_the_manager_keeps_the_reference_view_of_its_webhooks() -> None:
    manager = WebhookManager()
    manager.add_webhook(PUBLIC, events=["job.dead"], headers={"X-A": "b"}, secret="k", timeout=3)
    assert manager._webhooks == [
        {
            "url": PUBLIC,
            "events": {"job.dead"},
            "headers": {"X-A": "b"},
            "secret": b"k",
            "max_retries": 3,
            "timeout": 3.0,
            "retry_backoff": 2.0,
        }
    ]
    manager.close()


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"bus": object()}, TypeError, "bus must be a taskito EventBus"),
        ({"max_pending": 0}, ValueError, "max_pending must be >= 1"),
        ({"stop_timeout_s": -1}, ValueError, "stop_timeout_s must be a finite"),
        ({"tls_context": "yes"}, TypeError, "tls_context must be an ssl.SSLContext"),
    ],
)
def test_bad_manager_options(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        WebhookManager(**options)


def test_notify_checks_its_arguments_and_a_closed_manager_takes_no_webhooks() -> None:
    manager = WebhookManager()
    with pytest.raises(ValueError, match="unknown event type 'nope'"):
        manager.notify("nope", {})
    with pytest.raises(TypeError, match="payload must be a dict"):
        manager.notify(EventType.JOB_DEAD, [])  # type: ignore[arg-type]
    manager.close()
    with pytest.raises(QueueError, match="closed"):
        manager.add_webhook(PUBLIC)


# --- the request-forgery guard ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("100.64.0.1", "not globally routable"),
        ("192.0.2.1", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "private"),
        ("::ffff:127.0.0.1", "loopback, embedded in ::ffff:7f00:1"),
        ("::ffff:10.0.0.1", "private, embedded in"),
        ("::ffff:169.254.169.254", "link-local, embedded in"),
        ("64:ff9b::7f00:1", "loopback, embedded in"),
        ("2002:7f00:1::1", "loopback, embedded in"),
        ("2002:a00:1::1", "private, embedded in"),
        ("::7f00:1", "reserved"),
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str, reason: str) -> None:
    found = refusal_reason(ipaddress.ip_address(address))
    assert found is not None and found.startswith(reason), found


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "2a00:1450::1", "::ffff:8.8.8.8"],
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_throttle_reports_the_first_then_counts_until_the_interval_passes() -> None:
    throttle = Throttle(interval_s=3600)
    assert throttle.hit() == 1
    assert [throttle.hit() for _ in range(5)] == [0] * 5
    assert throttle.unreported() == 5
    assert throttle.unreported() == 0
    every_time = Throttle(interval_s=0)
    assert [every_time.hit() for _ in range(3)] == [1, 1, 1]
