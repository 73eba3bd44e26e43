"""A real Django project for these tests: settings configured once per test process, when
this file is imported (Django allows one configuration, and the test modules import models),
its database a SQLite file in a temporary directory, migrated once;
each test gets the project's taskito Queue on a SQLite file of its own
(``override_settings(TASKITO_DB_PATH=...)``, which also closes the Queue afterwards)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings, setup_test_environment

import taskito
from taskito.contrib.django import close_queue, get_queue

PASSWORD = "correct horse battery staple"


def project_settings(root: Path) -> dict[str, object]:
    return {
        "DEBUG": False,
        "SECRET_KEY": "tests-only-not-secret",
        "ALLOWED_HOSTS": ["testserver"],
        "USE_TZ": True,
        "INSTALLED_APPS": [
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "taskito.contrib.django",
            "tests.integrations.django_app.shop",
        ],
        "MIDDLEWARE": [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        "ROOT_URLCONF": "tests.integrations.django_app.urls",
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "DATABASES": {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(root / "django.db")}
        },
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        # Until a test points it at its own file, the Queue lives here.
        "TASKITO_DB_PATH": str(root / "taskito-unused.db"),
    }


PROJECT_ROOT = Path(tempfile.mkdtemp(prefix="taskito-django-tests-"))
atexit.register(shutil.rmtree, PROJECT_ROOT, ignore_errors=True)
settings.configure(**project_settings(PROJECT_ROOT))
django.setup()
setup_test_environment()


@pytest.fixture(scope="session")
def django_project() -> Iterator[Path]:
    call_command("migrate", run_syncdb=True, verbosity=0)
    try:
        yield PROJECT_ROOT
    finally:
        close_queue()


@pytest.fixture
def queue(django_project: Path, tmp_path: Path) -> Iterator[taskito.Queue]:
    """The project's Queue (``get_queue()``) on this test's own SQLite file."""
    with override_settings(TASKITO_DB_PATH=str(tmp_path / "taskito.db"), TASKITO_WORKERS=2):
        yield get_queue()
    # Leaving override_settings changed TASKITO_* settings: the Queue was closed.


@pytest.fixture
def staff_client(django_project: Path) -> Iterator[Client]:
    """A client logged in as a staff superuser (CSRF enforced, as in a browser)."""
    from django.contrib.auth.models import User

    user = User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    try:
        yield client
    finally:
        user.delete()
