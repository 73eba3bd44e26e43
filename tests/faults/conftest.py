"""Fixtures of the fault suite: the worker tests' ``target`` (a fresh database on each
backend) and ``harness`` (real worker threads on it).

The fault suite drives what goes wrong where the data path meets the outside world: poison
strings, exceptions that are not ``Exception``, killed workers, lost replies, unknown tasks,
forged payloads, skewed clocks and dropped connections. Each test asserts the final state of
every job it made, not only that nothing raised.
"""

from __future__ import annotations

from tests.worker.conftest import harness, target

__all__ = ["harness", "target"]
