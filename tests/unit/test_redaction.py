"""``taskito.redaction``: the password of a URL or a libpq conninfo is blanked wherever a text
quotes it; everything else a reader needs (scheme, user, host, database) stays."""

from __future__ import annotations

import pytest

from taskito.redaction import redact_secrets, redact_url, safe_cause


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://default:p@ss@h/1", "rediss://default:***@h/1"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://u:@h/db", "postgresql://u:@h/db"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        (
            "postgresql://h/db?password=pw&sslmode=require",
            "postgresql://h/db?password=***&sslmode=require",
        ),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
        ("host=h password='p w' dbname=d", "host=h password=*** dbname=d"),
        ("", ""),
    ],
)
def test_redact_url_blanks_the_password_only(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_secrets_blanks_every_url_in_a_text_and_literal_passwords() -> None:
    text = (
        "connecting to 'postgresql://u:s3cr%40t@h/db' failed; retry redis://:x@r:1/0."
        " server said: bad password s3cr@t"
    )
    redacted = redact_secrets(text, "postgresql://u:s3cr%40t@h/db")
    assert "s3cr" not in redacted
    assert "postgresql://u:***@h/db" in redacted and "redis://:***@r:1/0" in redacted
    assert redact_secrets("no secrets here", None, "") == "no secrets here"
    assert "pw" not in redact_secrets("auth pw refused", "host=h password=pw")


def test_safe_cause_drops_a_cause_that_would_print_the_password() -> None:
    leaking = OSError("cannot reach redis://:topsecret@h:1/0 with topsecret")
    assert safe_cause(leaking, "redis://:topsecret@h:1/0") is None
    harmless = OSError("connection refused")
    assert safe_cause(harmless, "redis://:topsecret@h:1/0") is harmless
