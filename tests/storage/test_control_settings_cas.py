"""Contract: ``set_setting_if``, the compare-and-set of a setting, including N storages racing
on the same key (exactly one wins each round)."""

from __future__ import annotations

import pytest

from taskito.storage.base import Storage
from tests.storage.factories import Backend, open_storages, race


def test_set_if_unset_and_if_equal(storage: Storage) -> None:
    assert storage.set_setting_if("k", None, "one", 1) is True
    assert storage.set_setting_if("k", None, "two", 2) is False  # set already
    assert storage.get_setting("k") == "one"
    assert storage.set_setting_if("k", "stale", "two", 3) is False
    assert storage.get_setting("k") == "one"
    assert storage.set_setting_if("k", "one", "two", 4) is True
    assert storage.get_setting("k") == "two"
    assert storage.set_setting_if("missing", "x", "y", 5) is False
    assert storage.get_setting("missing") is None
    assert storage.set_setting_if("empty", None, "", 6) is True
    assert storage.set_setting_if("empty", "", "full", 7) is True
    assert storage.get_setting("empty") == "full"


@pytest.mark.parametrize(
    ("key", "expected", "value", "error"),
    [("", None, "v", ValueError), ("k", None, 3, TypeError), ("k", 3, "v", TypeError)],
)
def test_bad_arguments_raise(
    storage: Storage, key: object, expected: object, value: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        storage.set_setting_if(key, expected, value, 1)  # type: ignore[arg-type]
    assert storage.list_settings() == {}


def test_racing_writers_lose_nothing(backend: Backend) -> None:
    storages = open_storages(backend, 4)  # closed by the backend after the test
    storages[0].set_setting("counter", "0", 1)

    def bump(storage: Storage) -> int:
        wins = 0
        for _ in range(10):
            while True:
                current = storage.get_setting("counter")
                assert current is not None
                if storage.set_setting_if("counter", current, str(int(current) + 1), 2):
                    wins += 1
                    break
        return wins

    assert sum(race(storages, bump)) == 40
    assert storages[0].get_setting("counter") == "40"
