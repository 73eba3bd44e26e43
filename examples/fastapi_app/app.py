"""A FastAPI service that builds reports in the background and shows how far each one got:
taskito's job API (``taskito.contrib.fastapi.TaskitoRouter``) under ``/tasks``, and one route
of its own, ``POST /reports``, that starts a report.

Run it from the repository root (needs ``pip install "pytaskito[fastapi]"``):

    uvicorn examples.fastapi_app.app:app

then, from another terminal:

    curl -X POST 'http://127.0.0.1:8000/reports?pages=5'           # {"job_id": "..."}
    curl -N http://127.0.0.1:8000/tasks/jobs/<job_id>/progress      # events as pages are done
    curl 'http://127.0.0.1:8000/tasks/jobs/<job_id>/result?timeout=30'

So that one command is all it takes, the app runs a worker in a thread of the server process,
started and stopped with the app. In production run workers as processes of their own
(``taskito worker --app examples.fastapi_app.app:queue``) and guard the job API with
``TaskitoRouter(queue, dependencies=[Depends(your_auth)])``: it can cancel jobs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Query

from taskito import Queue, current_job
from taskito.contrib.fastapi import TaskitoRouter

# Jobs live in an SQLite file under .taskito/ in the directory the server runs in.
queue = Queue(db_path=".taskito/fastapi_app.db")


@queue.task(name="build_report")
def build_report(pages: int, seconds_per_page: float = 0.5) -> dict[str, int]:
    """Build a report page by page, saying how far it got after each page."""
    for page in range(1, pages + 1):
        time.sleep(seconds_per_page)  # the real work of one page would go here
        current_job.update_progress(page * 100 // pages)
        current_job.publish({"page": page})
    return {"pages": pages}


@asynccontextmanager
async def run_worker_with_the_app(app: FastAPI) -> AsyncIterator[None]:
    worker = threading.Thread(target=queue.run_worker, name="fastapi-app-worker")
    worker.start()
    try:
        yield
    finally:
        queue.request_shutdown()
        worker.join()
        queue.close()


app = FastAPI(title="Reports", lifespan=run_worker_with_the_app)
app.include_router(TaskitoRouter(queue), prefix="/tasks")


@app.post("/reports")
def start_report(
    pages: int = Query(5, ge=1, le=100),
    seconds_per_page: float = Query(0.5, ge=0, le=10),
) -> dict[str, str]:
    """Start building a report; follow it at /tasks/jobs/{job_id}/progress."""
    job = build_report.delay(pages, seconds_per_page)
    return {"job_id": job.id}
