"""``WorkerSettings``: every option of a worker in one frozen value, checked once when built.

A ``Worker`` takes one of these instead of a long list of keyword arguments; the façade's
``run_worker`` builds it from the Queue's configuration, tests and benchmarks from their own
options (``WorkerSettings(**options)``). Each bad value raises the same clear ``TypeError`` or
``ValueError`` the worker raised before it touched storage; sequences are kept as tuples and
numbers of seconds as floats (a list given for ``queues`` or ``tags`` is accepted and kept as
a tuple), so the value can be shared and compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from taskito._checks import check_names, check_positive, check_seconds
from taskito.worker.backoff import FIRST_S, MAX_S
from taskito.worker.leases import LeaseTimings
from taskito.worker.pools import check_pool_name, check_pool_options

#: The longest a worker waits for anything (about 31 years): a thread cannot wait longer than
#: ``threading.TIMEOUT_MAX`` (about 292 years on Linux) from now.
MAX_WAIT_S = 1e9


def _queues(queues: object) -> tuple[str, ...] | None:
    # None consumes every queue; an empty list would consume none, which is a mistake.
    if queues is None:
        return None
    names = check_names("queues", queues)
    if not names:
        raise ValueError("queues must name at least one queue, or be None for every queue")
    return names


def _seconds(name: str, value: object, *, zero: bool = False) -> float:
    # The worker reports every bad number of seconds, wrong type included, as a ValueError.
    return check_seconds(name, value, allow_zero=zero, maximum=MAX_WAIT_S, type_error=ValueError)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker consumes: which queues, with which pool, and how often it does what.

    ``queues=None`` consumes every queue. ``pool`` names a pool (``POOL_NAMES``); ``app``
    (``"module:attr"``), ``threads``, ``async_concurrency`` and ``max_tasks_per_child`` are
    what it is built with. ``lease_ms``, ``heartbeat_interval_s``, ``reap_interval_s`` and
    ``worker_stale_s`` make ``timings``, the lease keeper's; the rest are the loop's waits.
    """

    queues: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    pool: str = "thread"
    app: str | None = None
    threads: int = 1
    drain_timeout_s: float = 30.0
    async_concurrency: int = 100
    max_tasks_per_child: int = 0
    lease_ms: int = 4_000
    heartbeat_interval_s: float = 1.0
    reap_interval_s: float = 0.5
    worker_stale_s: float = 10.0
    check_pids: bool = True
    cancel_poll_s: float = 0.005
    idle_poll_s: float = 0.2
    cleanup_interval_s: float = 5.0
    install_signals: bool = True
    storage_backoff_s: float = FIRST_S
    storage_backoff_max_s: float = MAX_S
    #: Built from the four lease fields above (and checked with them).
    timings: LeaseTimings = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The order of the checks is the order the worker applied them in: with several bad
        # values, the error names the same one as before.
        self._set("queues", _queues(self.queues))
        self._set("tags", check_names("tags", self.tags))
        self._set("drain_timeout_s", _seconds("drain_timeout_s", self.drain_timeout_s, zero=True))
        self._set("idle_poll_s", _seconds("idle_poll_s", self.idle_poll_s))
        timings = LeaseTimings(
            self.lease_ms, self.heartbeat_interval_s, self.reap_interval_s, self.worker_stale_s
        )
        self._set("timings", timings)
        check_positive("threads", self.threads, type_error=ValueError)
        check_pool_name(self.pool)
        check_pool_options(self.pool, self.max_tasks_per_child)
        self._set("storage_backoff_s", _seconds("storage_backoff_s", self.storage_backoff_s))
        self._set(
            "storage_backoff_max_s",
            _seconds("storage_backoff_max_s", self.storage_backoff_max_s),
        )
        self._set("cancel_poll_s", _seconds("cancel_poll_s", self.cancel_poll_s))
        self._set("cleanup_interval_s", _seconds("cleanup_interval_s", self.cleanup_interval_s))
        self._set("check_pids", bool(self.check_pids))
        self._set("install_signals", bool(self.install_signals))

    def _set(self, name: str, value: object) -> None:
        # The one way to store a normalised value on a frozen dataclass, from __post_init__.
        object.__setattr__(self, name, value)


__all__ = ["WorkerSettings"]
