"""The producer's trace context, carried from ``on_enqueue`` to the worker in the job's
``metadata``, under one key: ``{"taskito.trace": {"otel": {...}, "sentry": {...}}}``.

Metadata is the user's text. The key is added only when the metadata is absent or a JSON
object, and the user's text is kept as written (the key is appended before its closing brace);
any other metadata (a JSON list, plain text) is left alone and that job carries no trace. The
worker reads the headers back with ``carried`` (``current_job.metadata``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: The one metadata key taskito's integrations write.
TRACE_KEY = "taskito.trace"


def carry(options: dict[str, Any], system: str, headers: Mapping[str, str]) -> bool:
    """Put ``headers`` (for ``system``: "otel", "sentry") into ``options["metadata"]``, the
    options an ``on_enqueue`` hook may change. False when the metadata cannot carry them."""
    if not headers:
        return False
    metadata = options.get("metadata")
    if metadata is None:
        options["metadata"] = _dumps({TRACE_KEY: {system: dict(headers)}})
        return True
    document = _object_or_none(metadata)
    if document is None:
        return False
    carried_now = document.get(TRACE_KEY)
    if TRACE_KEY in document and not isinstance(carried_now, dict):
        return False  # the user's own value under our key: not ours to replace
    if carried_now is None:
        options["metadata"] = _append_key(metadata, bool(document), {system: dict(headers)})
    else:
        # Already carrying another system's headers (two integrations): merge and rewrite.
        document[TRACE_KEY] = {**carried_now, system: dict(headers)}
        options["metadata"] = _dumps(document)
    return True


def carried(metadata: str | None, system: str) -> dict[str, str]:
    """The headers ``carry`` stored for ``system`` in a job's metadata; {} when there are
    none (no metadata, not a JSON object, no trace, or malformed values)."""
    if metadata is None:
        return {}
    document = _object_or_none(metadata)
    trace = None if document is None else document.get(TRACE_KEY)
    headers = trace.get(system) if isinstance(trace, dict) else None
    if not isinstance(headers, dict):
        return {}
    return {str(k): v for k, v in headers.items() if isinstance(v, str)}


def _object_or_none(metadata: object) -> dict[str, Any] | None:
    if not isinstance(metadata, str):
        return None
    try:
        document = json.loads(metadata)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _append_key(metadata: str, has_keys: bool, value: dict[str, Any]) -> str:
    """``metadata`` (a JSON object) with ``TRACE_KEY: value`` added before its closing brace,
    the user's own text unchanged."""
    body = metadata.rstrip()
    assert body.endswith("}"), "a JSON object ends with a brace"
    separator = "," if has_keys else ""
    return f"{body[:-1].rstrip()}{separator}{_dumps(TRACE_KEY)}:{_dumps(value)}}}"


def _dumps(value: Any) -> str:
    # ASCII and compact: the metadata stays storable and short.
    return json.dumps(value, separators=(",", ":"))


__all__ = ["TRACE_KEY", "carried", "carry"]
