"""The FastAPI integration: ``TaskitoRouter(queue)``, an ``APIRouter`` serving the job API
(stats, jobs, results with a bounded wait, progress as server-sent events, cancel, dead
letters, health and readiness) over the dashboard's JSON layer (docs/integrations.md).
Needs the ``fastapi`` extra.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
except ImportError as exc:
    raise ImportError(
        "taskito.contrib.fastapi needs FastAPI: pip install 'taskito[fastapi]'"
    ) from exc

from taskito.contrib.fastapi.options import ROUTE_NAMES
from taskito.contrib.fastapi.router import TaskitoRouter

__all__ = ["ROUTE_NAMES", "TaskitoRouter"]
