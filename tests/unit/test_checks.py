"""The generic checks of ``taskito/_checks.py`` that no component wraps: what they accept and
the error each refusal raises."""

from __future__ import annotations

import pytest

from taskito._checks import check_optional_int
from taskito.exceptions import ConfigurationError


def test_check_optional_int_passes_none_and_ints_through() -> None:
    assert check_optional_int("cap", None, minimum=1) is None
    assert check_optional_int("cap", 3, minimum=1) == 3


def test_check_optional_int_refuses_bools_and_other_types_with_a_type_error() -> None:
    with pytest.raises(TypeError, match="cap must be an int, not bool"):
        check_optional_int("cap", True)
    with pytest.raises(ValueError, match="cap must be an int, not str"):
        check_optional_int("cap", "3", type_error=ValueError)


def test_check_optional_int_raises_the_callers_error_below_the_minimum() -> None:
    with pytest.raises(ConfigurationError, match="cap must be >= 1, got 0"):
        check_optional_int("cap", 0, minimum=1, error=ConfigurationError)
