"""The consuming side: ``Worker`` claims jobs, runs them in a pool and records their outcomes;
``WorkerSettings`` says how."""

from __future__ import annotations

from taskito.worker.settings import WorkerSettings
from taskito.worker.worker import Worker

__all__ = ["Worker", "WorkerSettings"]
