"""``MockResource``: what a test hands a task in place of a worker resource
(``queue.test_mode(resources={"db": MockResource("db", return_value=...)})``)."""

from __future__ import annotations

from typing import Any


class MockResource:
    """A stand-in for a worker resource: injected tasks receive ``get()``'s value, which is
    ``wraps`` when given, else ``return_value``.

    ``call_count`` counts hand-outs; with ``track_calls`` the ids of the jobs that received
    the resource are kept in ``calls`` (None for a ``get()`` outside test mode).
    """

    def __init__(
        self,
        name: str,
        return_value: Any = None,
        wraps: Any = None,
        track_calls: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("MockResource needs a non-empty name")
        self.name = name
        self.return_value = return_value
        self.wraps = wraps
        self.track_calls = track_calls
        self.call_count = 0
        self.calls: list[str | None] = []

    def __repr__(self) -> str:
        return f"<MockResource {self.name!r} calls={self.call_count}>"

    @property
    def value(self) -> Any:
        """What ``get()`` hands out, without counting a hand-out."""
        return self.wraps if self.wraps is not None else self.return_value

    def get(self) -> Any:
        return self._hand_out(None)

    def _hand_out(self, job_id: str | None) -> Any:
        self.call_count += 1
        if self.track_calls:
            self.calls.append(job_id)
        return self.value


__all__ = ["MockResource"]
