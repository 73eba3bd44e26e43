"""A Flask app whose requests hand slow work to taskito.

From this directory (needs ``pip install "pytaskito[flask]"``):

    flask --app app run                 # the web app on http://127.0.0.1:5000
    flask --app app taskito worker      # a worker, in a second terminal
    flask --app app taskito worker --pool prefork   # a worker of child processes (wsgi.py)
    flask --app app taskito info        # job counts

    curl -X POST -H 'Content-Type: application/json' -d '{"text": "to be or not"}' \\
        http://127.0.0.1:5000/count     # -> {"job_id": "..."}
    curl http://127.0.0.1:5000/jobs/<job_id>

The queue's SQLite file is ``instance/taskito.db`` (Flask's instance folder); set
``FLASK_TASKITO_DB_PATH`` (or any ``FLASK_TASKITO_*``) in the environment to change it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request

from taskito.contrib.flask import Taskito

taskito_ext = Taskito()


@taskito_ext.task(max_retries=2)
def count_words(text: str) -> int:
    return len(text.split())


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        TASKITO_DB_PATH="taskito.db",
        TASKITO_WORKERS=2,
        TASKITO_APP="wsgi:queue",  # what prefork children import
    )
    app.config.from_prefixed_env()  # FLASK_TASKITO_DB_PATH=/path/to/jobs.db
    if test_config is not None:
        app.config.update(test_config)
    taskito_ext.init_app(app)

    @app.post("/count")
    def count() -> tuple[dict[str, Any], int]:
        body = request.get_json(silent=True) or {}
        text = body.get("text")
        if not isinstance(text, str):
            abort(400, description='expected a JSON body {"text": "..."}')
        job = count_words.delay(text)
        return {"job_id": job.id}, 202

    @app.get("/jobs/<job_id>")
    def job_status(job_id: str) -> dict[str, Any]:
        job = taskito_ext.queue.get_job(job_id)
        if job is None:
            abort(404)
        answer: dict[str, Any] = {"id": job.id, "status": job.status}
        if job.status == "complete":
            answer["result"] = job.result(timeout=1)
        return answer

    return app
