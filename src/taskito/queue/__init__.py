"""The façade users hold: ``Queue`` (``queue.py``) and its parts, one module a concept.

``from taskito import Queue`` is the public import; this package re-exports nothing so that
the modules below the façade that use its argument checks (``checks.py``) do not load
``Queue`` with them.
"""
