"""Steps the browser tests share: signing in, waiting for a page's first refresh, reading
the API from inside the page (with its cookies and CSRF token)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from playwright.sync_api import expect

from tests.dashboard.harness import ADMIN

if TYPE_CHECKING:
    from playwright.sync_api import Page


def sign_in(page: Page, user: tuple[str, str] = ADMIN) -> None:
    """Sign in through the login page; the dashboard's overview opens."""
    page.goto("/login")
    page.get_by_label("User name").fill(user[0])
    page.get_by_label("Password").fill(user[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text(user[0])
    loaded(page)


def loaded(page: Page) -> None:
    """Wait for the shown page's first refresh to finish."""
    expect(page.locator("#refreshed")).to_have_attribute("data-at", re.compile(r"^\d+$"))


def show(page: Page, path: str) -> None:
    """Open a dashboard path (a full load) and wait for its data."""
    page.goto(path)
    loaded(page)


def fetch(page: Page, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """``method path`` from inside the page, as its script would send it (cookies and the
    CSRF header); ``{status, body}``."""
    result: dict[str, Any] = page.evaluate(
        """async ([method, path, body]) => {
            const csrf = (document.cookie.split("; ").find((c) => c.startsWith("taskito_csrf="))
                || "=").split("=")[1];
            const init = { method, headers: { "X-CSRF-Token": csrf,
                "Content-Type": "application/json" } };
            if (body !== null) init.body = JSON.stringify(body);
            const response = await fetch(path, init);
            return { status: response.status, body: await response.json() };
        }""",
        [method, path, body],
    )
    return result
