"""The app for a WSGI server (``gunicorn wsgi:app``), and its Queue as ``wsgi:queue``: what
``TASKITO_APP`` names, so that the children of ``flask --app app taskito worker --pool
prefork`` can import it."""

from __future__ import annotations

from app import create_app, taskito_ext

app = create_app()
queue = taskito_ext.get_queue(app)
