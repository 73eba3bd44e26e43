"""The worker's history chores on its cleanup timer: the automatic dead-letter retry and the
retention sweep, with the report of the windows it applied (``effective_retention``).

Both are scoped by the worker's namespace. The retry takes up to ``AUTO_RETRY_BATCH`` letters
per pass, oldest first, each through ``Storage.retry_dead(automatic=True)``: the letter's row
goes in the same transaction as the copy is made, so two workers cannot both retry it.
"""

from __future__ import annotations

import json
import logging
import threading

from taskito.ids import new_job_id
from taskito.registry import ExecutionEnv
from taskito.serializers import binds_context
from taskito.signing import payload_context, rebind
from taskito.storage.base import DeadLetter
from taskito.worker import retention as retention_rules

logger = logging.getLogger("taskito.retention")

#: Dead letters one automatic-retry pass looks at.
AUTO_RETRY_BATCH = 50
#: The settings key of a namespace's retention report (``effective_retention``).
REPORT_PREFIX = "retention:effective:"


def report_key(namespace: str | None) -> str:
    return REPORT_PREFIX + ("" if namespace is None else namespace)


class HistoryUpkeep:
    """Runs the two chores for one worker's ``env`` (``run``); ``stop`` ends a sweep early."""

    def __init__(self, env: ExecutionEnv, stop: threading.Event | None = None) -> None:
        self._env = env
        self._stop = stop

    def run(self, now: int) -> None:
        self.retry_dead_letters(now)
        self.apply_retention(now)

    def retry_dead_letters(self, now: int) -> list[str]:
        """One pass of the automatic dead-letter retry; the new job ids (none when off)."""
        env = self._env
        delay_ms = env.dlq_auto_retry_delay_ms
        if delay_ms is None:
            return []
        due = env.storage.dead_letters_due(
            env.namespace, None, now - delay_ms + 1, env.dlq_auto_retry_max, AUTO_RETRY_BATCH
        )
        retried: list[str] = []
        for letter in due:
            job_id = new_job_id()
            try:
                payload = self._rebound(letter, job_id)
            except Exception:
                logger.exception("dead letter %s cannot be retried automatically", letter.id)
                continue
            if env.storage.retry_dead(letter.id, job_id, now, payload, automatic=True):
                retried.append(job_id)
        if retried:
            logger.info("retried %d dead letter(s) automatically", len(retried))
        return retried

    def _rebound(self, letter: DeadLetter, job_id: str) -> bytes | None:
        """The letter's payload made valid for ``job_id`` when payloads are bound to their id
        (signed, or encrypted with the id as context); None: the stored one stays valid."""
        env = self._env
        spec = env.tasks.get(letter.task_name)
        serializer = env.serializer if spec is None or spec.serializer is None else spec.serializer
        if env.signer is None and not binds_context(serializer):
            return None
        old = payload_context(letter.original_job_id, letter.task_name)
        return rebind(
            serializer, env.signer, letter.payload, old, payload_context(job_id, letter.task_name)
        )

    def apply_retention(self, now: int) -> dict[str, int]:
        """One retention sweep with the Queue's windows, then its report; {} when off (the
        first time: a notice naming the recommended windows)."""
        env = self._env
        if env.retention is None:
            retention_rules.announce_off_once()
            return {}
        deleted = retention_rules.sweep(env.storage, env.retention, now, self._stop)
        report = {
            "enabled": env.retention.enabled,
            "namespace": env.namespace,
            "reported_at": now,
            "windows": env.retention.windows_ms(),
        }
        env.storage.set_setting(report_key(env.namespace), json.dumps(report), now)
        return deleted


__all__ = ["AUTO_RETRY_BATCH", "REPORT_PREFIX", "HistoryUpkeep", "report_key"]
