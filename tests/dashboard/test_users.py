"""Users, tokens and password hashes, stored in the queue's settings under hidden keys."""

from __future__ import annotations

import pytest

from taskito import Queue
from taskito.dashboard import Users
from taskito.dashboard.auth import passwords
from tests.dashboard.harness import TEST_PASSWORD_COST


def test_hashes_are_salted_scrypt_and_verify() -> None:
    first = passwords.hash_password("correct horse", cost=TEST_PASSWORD_COST)
    second = passwords.hash_password("correct horse", cost=TEST_PASSWORD_COST)
    assert first.startswith(f"scrypt${TEST_PASSWORD_COST}$8$1$") and first != second
    assert passwords.verify_password("correct horse", first)
    assert not passwords.verify_password("correct horsf", first)
    for broken in ("", "scrypt$", "bcrypt$16$8$1$aa$bb", "scrypt$3$8$1$aa$bb", first + "$x"):
        assert not passwords.verify_password("correct horse", broken)


def test_the_default_cost_is_slow_enough() -> None:
    assert passwords.DEFAULT_COST >= 2**15
    assert passwords.hash_password("a long password").startswith("scrypt$32768$8$1$")


@pytest.mark.parametrize(
    ("password", "error", "complaint"),
    [("short", ValueError, "8 to 1024"), ("x" * 1025, ValueError, "8 to 1024"),
     ("nul\x00in-it", ValueError, "NUL"), (12345678, TypeError, "str")],
)  # fmt: skip
def test_bad_passwords_are_refused(password: object, error: type, complaint: str) -> None:
    with pytest.raises(error, match=complaint):
        passwords.hash_password(password, cost=TEST_PASSWORD_COST)  # type: ignore[arg-type]


@pytest.mark.parametrize("cost", [0, 1, 3, 2**21, True, 2.0])
def test_bad_costs_are_refused(queue: Queue, cost: object) -> None:
    with pytest.raises((ValueError, TypeError), match="password_cost"):
        Users(queue, password_cost=cost)  # type: ignore[arg-type]


def test_users_are_stored_hashed_under_hidden_keys(queue: Queue) -> None:
    users = Users(queue, password_cost=TEST_PASSWORD_COST)
    users.create("ada", "admin-password-1", "admin")
    users.create("vic", "viewer-password-1")  # viewer by default
    assert users.list_users() == [
        {"name": "ada", "role": "admin", "created_at": users.list_users()[0]["created_at"]},
        {"name": "vic", "role": "viewer", "created_at": users.list_users()[1]["created_at"]},
    ]
    stored = queue.get_setting("auth:user:ada")
    assert stored is not None and "admin-password-1" not in stored and "scrypt$" in stored
    assert users.authenticate("ada", "admin-password-1") == users.get("ada")
    assert users.authenticate("ada", "wrong-password") is None
    assert users.authenticate("nobody", "whatever-pass") is None
    assert users.authenticate("bad name!", "whatever-pass") is None
    assert users.configured()


def test_user_changes_and_their_errors(queue: Queue) -> None:
    users = Users(queue, password_cost=TEST_PASSWORD_COST)
    assert not users.configured()
    users.create("ada", "admin-password-1", "admin")
    with pytest.raises(ValueError, match="already exists"):
        users.create("ada", "admin-password-2", "admin")
    with pytest.raises(ValueError, match="role must be one of admin, viewer"):
        users.create("bob", "bob-password-1", "root")  # type: ignore[arg-type]
    for bad in ("", "has space", "-dash-first", "x" * 65, "semi;colon"):
        with pytest.raises(ValueError, match="user name"):
            users.create(bad, "some-password-1", "viewer")
    with pytest.raises(ValueError, match="no user named 'bob'"):
        users.set_password("bob", "new-password-1")
    users.set_password("ada", "new-password-1")
    assert users.authenticate("ada", "new-password-1") is not None
    users.set_role("ada", "viewer")
    assert users.get("ada") is not None and users.get("ada").role == "viewer"  # type: ignore[union-attr]
    assert users.delete("ada") is True and users.delete("ada") is False
    assert users.get("ada") is None


def test_tokens_are_shown_once_and_stored_as_digests(queue: Queue) -> None:
    users = Users(queue)
    token = users.create_token("grafana", "viewer")
    assert token.startswith("tsk_") and len(token) > 40
    assert token not in "".join(f"{k}={v}" for k, v in queue.list_settings().items())
    user = users.token_user(token)
    assert user is not None and (user.name, user.role, user.token) == ("grafana", "viewer", True)
    assert users.token_user("tsk_wrong") is None and users.token_user("no-mark") is None
    assert users.configured()
    assert users.revoke_token("grafana") == 1 and users.token_user(token) is None
    with pytest.raises(ValueError, match="token name"):
        users.create_token("bad name", "viewer")
