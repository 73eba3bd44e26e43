"""``--app module:attribute``: the user's ``taskito.Queue``.

``taskito.loading`` imports it and words every failure as a ``taskito.AppLoadError``; this
module checks that what it found is a Queue. ``errors.report_load_error`` says what went wrong.
"""

from __future__ import annotations

import taskito
from taskito import loading


def load_queue(spec: str) -> taskito.Queue:
    """Import the module named by ``spec`` (from the current directory too) and return its
    Queue; raise ``taskito.AppLoadError`` when that fails."""
    target = loading.load_attr(spec)
    if not isinstance(target, taskito.Queue):
        raise loading.wrong_type(spec, target, "a taskito.Queue")
    return target
