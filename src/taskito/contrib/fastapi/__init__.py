"""The FastAPI integration: ``TaskitoRouter(queue)``, an ``APIRouter`` serving the job API
(stats, jobs, results with a bounded wait, progress as server-sent events, cancel, dead
letters, health and readiness) over the dashboard's JSON layer (docs/integrations.md).
Needs the ``fastapi`` extra.
"""

from __future__ import annotations

from taskito.contrib import require

require("fastapi", extra="fastapi", feature="taskito.contrib.fastapi")

from taskito.contrib.fastapi.options import ROUTE_NAMES  # noqa: E402
from taskito.contrib.fastapi.router import TaskitoRouter  # noqa: E402

__all__ = ["ROUTE_NAMES", "TaskitoRouter"]
