"""``InterceptionReport``: what interception would do with a call's arguments, without doing
it (``task.analyze(...)``): one entry per top-level argument, and one per value inside them that
is not simply passed on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from taskito.interception.strategy import Strategy


@dataclass(frozen=True, slots=True)
class ReportEntry:
    """One value: where it is, its type, its strategy and why."""

    path: str
    type_name: str
    strategy: Strategy
    detail: str

    def __str__(self) -> str:
        return f"{self.path} ({self.type_name}): {self.strategy.value} - {self.detail}"


class InterceptionReport:
    """The entries of one analysis, in argument order."""

    def __init__(self, entries: Iterable[ReportEntry] = ()) -> None:
        self.entries = list(entries)

    def __iter__(self) -> Iterator[ReportEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def failures(self) -> list[ReportEntry]:
        """The entries a strict interceptor refuses."""
        return [entry for entry in self.entries if entry.strategy is Strategy.REJECT]

    def __str__(self) -> str:
        if not self.entries:
            return "Argument Analysis: (no arguments analysed)"
        return "\n".join(["Argument Analysis:", *(f"  {entry}" for entry in self.entries)])

    def __repr__(self) -> str:
        return f"<InterceptionReport entries={len(self.entries)} failures={len(self.failures)}>"


__all__ = ["InterceptionReport", "ReportEntry"]
