"""The five things interception can do with an argument (``Strategy``), the vocabulary the
type registry, the walker, the report and the metrics share."""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    """What happens to a value of a registered type when a call is intercepted."""

    #: Left as it is, for the serializer.
    PASS = "pass"
    #: Turned into plain data the worker turns back (``__taskito_convert__``).
    CONVERT = "convert"
    #: Replaced by the worker's resource of that name (``__taskito_redirect__``).
    REDIRECT = "redirect"
    #: Refused: strict mode raises ``InterceptionError``, lenient mode drops it with a warning.
    REJECT = "reject"
    #: Turned into a recipe the worker rebuilds the object from (``__taskito_proxy__``).
    PROXY = "proxy"

    @classmethod
    def parse(cls, value: object) -> Strategy:
        """``value`` as a Strategy; ``ValueError`` naming the five otherwise."""
        if isinstance(value, Strategy):
            return value
        if isinstance(value, str):
            try:
                return cls(value.lower())
            except ValueError:
                pass
        choices = ", ".join(repr(s.value) for s in cls)
        raise ValueError(f"strategy must be one of {choices}, not {value!r}")


__all__ = ["Strategy"]
