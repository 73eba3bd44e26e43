"""Thread-scoped resources: ``ThreadLocalStore`` builds one instance per thread, on first use
in that thread, and tears them all down together."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from taskito.async_support.helpers import run_maybe_async

logger = logging.getLogger("taskito.resources")


class ThreadLocalStore:
    """One lazily built instance of a resource per thread."""

    def __init__(
        self,
        name: str,
        factory: Callable[..., Any],
        teardown: Callable[[Any], Any] | None,
        dep_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self._factory = factory
        self._teardown = teardown
        self._dep_kwargs = dict(dep_kwargs or {})
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: dict[int, Any] = {}

    def get_or_create(self) -> Any:
        """This thread's instance, built now if it has none (a None result is built again on
        the next call)."""
        instance = getattr(self._local, "instance", None)
        if instance is None:
            instance = run_maybe_async(self._factory(**self._dep_kwargs))
            self._local.instance = instance
            with self._lock:
                self._all[threading.get_ident()] = instance
        return instance

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for instance in self._all.values() if instance is not None)

    def teardown_all(self) -> None:
        """Tear down the instance of every thread; the next ``get_or_create`` builds anew."""
        with self._lock:
            instances = [i for i in self._all.values() if i is not None]
            self._all.clear()
        self._local = threading.local()
        for instance in instances:
            if self._teardown is None:
                continue
            try:
                run_maybe_async(self._teardown(instance))
            except Exception:
                logger.exception("teardown of a per-thread %r instance failed", self.name)


__all__ = ["ThreadLocalStore"]
