"""The ``TASKITO_*`` table (contrib/settings.py): one key for every ``Queue(...)`` option,
unknown keys refused by name, values handed to the Queue untouched."""

from __future__ import annotations

import inspect

import pytest

import taskito
from taskito.contrib.settings import (
    COMMON_SETTINGS,
    QUEUE_SETTINGS,
    TASKITO_APP,
    read_settings,
    valid_keys,
)


def test_every_queue_option_has_a_key() -> None:
    options = [name for name in inspect.signature(taskito.Queue).parameters if name != "self"]
    assert sorted(s.option for s in QUEUE_SETTINGS) == sorted(options)
    assert all(s.key == f"TASKITO_{s.option.upper()}" for s in QUEUE_SETTINGS if s.option)
    assert all(s.option is None for s in COMMON_SETTINGS)


def test_keys_are_split_into_queue_options_and_extras() -> None:
    settings = read_settings(
        {"TASKITO_WORKERS": 3, "TASKITO_APP": "wsgi:queue", "DEBUG": True, "OTHER": 1},
        source="test config",
    )
    assert settings.queue_options == {"workers": 3}
    assert settings.extras == {"TASKITO_APP": "wsgi:queue"}
    assert settings.text(TASKITO_APP) == "wsgi:queue"


def test_an_unknown_key_names_the_closest_and_every_valid_one() -> None:
    with pytest.raises(taskito.ConfigurationError) as raised:
        read_settings({"TASKITO_DB_PTH": "x.db"}, source="test config")
    message = str(raised.value)
    assert message.startswith("unknown taskito setting TASKITO_DB_PTH in test config")
    assert "(did you mean TASKITO_DB_PATH?)" in message
    assert all(key in message for key in valid_keys())


@pytest.mark.parametrize(
    "value, error, kind",
    [
        (3, TypeError, "must be a str, not int"),
        ("  ", taskito.ConfigurationError, "must be a non-empty str"),
    ],
)
def test_text_keys_are_checked(value: object, error: type[Exception], kind: str) -> None:
    settings = read_settings({"TASKITO_APP": value}, source="test config")
    with pytest.raises(error, match=f"test config TASKITO_APP {kind}"):
        settings.text(TASKITO_APP)
