"""The project's Queue as ``module:attr`` for prefork children
(``taskito.contrib.django.app:queue``, the default ``TASKITO_APP``): importing this module
sets Django up (``DJANGO_SETTINGS_MODULE``, inherited from ``manage.py``) and builds the Queue,
with every autodiscovered task registered. Only a child process should import it."""

from __future__ import annotations

import django

from taskito.contrib.django.project_queue import get_queue

django.setup()
queue = get_queue()
