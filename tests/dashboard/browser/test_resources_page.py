"""The Resources page with a real worker that has resources: a worker-scoped pair (one built
from the other), a task-scoped pool that a job used, each with its scope, health, build time,
rebuilds and dependencies, as ``/api/resources`` (``queue.resource_status()``) gives them."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from taskito import Queue
from tests.api.backends.support import worker_thread
from tests.dashboard.browser.conftest import Screenshots
from tests.dashboard.browser.helpers import show, sign_in
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

APP = """
import threading

from taskito import Inject, Queue

queue = Queue(db_path=DB_PATH)


@queue.worker_resource("settings", reloadable=True, frozen=True)
def settings():
    return {"dsn": "postgresql://db.internal/orders"}


@queue.worker_resource("database", depends_on=["settings"], health_check=lambda db: True,
                       health_check_interval=30)
def database(settings):
    threading.Event().wait(0.02)  # a connection takes a moment
    return {"dsn": settings["dsn"]}


@queue.worker_resource("http", scope="task", pool_size=4, depends_on=["settings"])
def http(settings):
    return {"base": "https://api.internal"}


Http = Inject["http"]


@queue.task(name="fetch", inject=["database"])
def fetch(order_id, database, http: Http):
    return order_id
"""


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    """The served Queue is the application's own, with its resource definitions."""
    name = f"res_page_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(APP.replace("DB_PATH", repr(str(tmp_path / "jobs.db")))))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    try:
        yield module.queue
    finally:
        module.queue.close()
        sys.modules.pop(name, None)


def test_resources_page_shows_each_resource(
    page: Page, queue: Queue, screenshots: Screenshots
) -> None:
    job = queue.enqueue("fetch", args=(42,))
    with worker_thread(queue, workers=2):
        wait_until(lambda: queue.get_job(job.id).status == "complete", timeout_s=20)  # type: ignore[union-attr]
        sign_in(page)
        page.get_by_role("link", name="Resources", exact=True).click()
        show(page, "/resources")
        rows = page.locator("#resources-table tbody tr")
        expect(rows).to_have_count(3)
        database = rows.filter(has_text="database")
        expect(database.locator("td").nth(1)).to_have_text("worker")
        expect(database.locator(".badge")).to_have_text("healthy")
        expect(database.locator("td").nth(5)).to_have_text("settings")
        http = rows.filter(has_text="http")
        expect(http.locator("td").nth(1)).to_have_text("task")
        expect(http.locator("td").nth(6)).to_contain_text("0 active · 1 idle · max 4")
        expect(http.locator("td").nth(6)).to_contain_text("1 acquired · 0 timed out")
        expect(rows.filter(has_text="settings").first.locator("td").nth(5)).to_have_text("—")
        screenshots.take(page, "resources")
