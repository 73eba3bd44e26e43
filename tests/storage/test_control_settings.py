"""Contract: settings (get_setting, set_setting, delete_setting, list_settings)."""

from __future__ import annotations

import pytest

from taskito.job import now_ms
from taskito.storage.base import Storage


def test_an_unknown_setting_is_none(storage: Storage) -> None:
    assert storage.get_setting("no-such-key") is None
    assert storage.list_settings() == {}


def test_set_get_and_overwrite_a_setting(storage: Storage) -> None:
    storage.set_setting("dashboard.theme", "dark", now_ms())
    assert storage.get_setting("dashboard.theme") == "dark"
    storage.set_setting("dashboard.theme", "light", now_ms())
    assert storage.get_setting("dashboard.theme") == "light"
    assert storage.list_settings() == {"dashboard.theme": "light"}


def test_values_round_trip_exactly(storage: Storage) -> None:
    values = {
        "empty": "",
        "spaces": "  padded  ",
        "unicode": "zürich ☃ 東京",
        "json": '{"a": [1, 2], "b": null}',
        "long": "x" * 10_000,
        "newlines": "one\ntwo\r\n",
    }
    for key, value in values.items():
        storage.set_setting(key, value, now_ms())
    for key, value in values.items():
        assert storage.get_setting(key) == value
    assert storage.list_settings() == values


def test_delete_a_setting(storage: Storage) -> None:
    storage.set_setting("a", "1", now_ms())
    storage.set_setting("b", "2", now_ms())
    assert storage.delete_setting("a") is True
    assert storage.get_setting("a") is None
    assert storage.delete_setting("a") is False
    assert storage.delete_setting("never-set") is False
    assert storage.list_settings() == {"b": "2"}


def test_a_deleted_setting_can_be_set_again(storage: Storage) -> None:
    storage.set_setting("a", "1", now_ms())
    assert storage.delete_setting("a")
    storage.set_setting("a", "2", now_ms())
    assert storage.list_settings() == {"a": "2"}


def test_keys_are_exact(storage: Storage) -> None:
    storage.set_setting("Key", "upper", now_ms())
    storage.set_setting("key", "lower", now_ms())
    storage.set_setting("key.sub", "nested", now_ms())
    assert storage.get_setting("key") == "lower"
    assert storage.get_setting("KEY") is None
    assert storage.list_settings() == {"Key": "upper", "key": "lower", "key.sub": "nested"}


def test_settings_are_shared_by_two_storage_objects(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    one.set_setting("shared", "v1", now_ms())
    assert two.get_setting("shared") == "v1"
    two.set_setting("shared", "v2", now_ms())
    assert one.get_setting("shared") == "v2"
    assert two.delete_setting("shared") is True
    assert one.list_settings() == {}


@pytest.mark.parametrize(("key", "value"), [("", "v"), (None, "v"), ("k", None), ("k", 5)])
def test_set_setting_rejects_bad_input(storage: Storage, key: object, value: object) -> None:
    storage.set_setting("k", "kept", now_ms())
    with pytest.raises((ValueError, TypeError)):
        storage.set_setting(key, value, now_ms())  # type: ignore[arg-type]
    assert storage.list_settings() == {"k": "kept"}
