"""The dashboard's page assets as files: none is fetched from another origin, the scripts never
turn data into markup or code, and every module a script imports exists (that every one ships
in the package is checked by tests/unit/test_package_data.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taskito.dashboard.server.static import CONTENT_TYPES, PACKAGE_ASSETS

ASSETS = sorted(path for path in PACKAGE_ASSETS.rglob("*") if path.is_file())
SCRIPTS = [path for path in ASSETS if path.suffix == ".js"]
#: The one absolute URL the assets may hold: the SVG namespace, which is never fetched.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
#: Ways a script could turn text into markup or code.
UNSAFE = re.compile(
    r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\b"
    r"|setAttribute\(\s*[\"']on|createContextualFragment|DOMParser"
)
IMPORT = re.compile(r"""(?:import|export)\s[^"']*?from\s*["']([^"']+)["']""")


def test_the_assets_exist() -> None:
    names = {path.relative_to(PACKAGE_ASSETS).as_posix() for path in ASSETS}
    assert {"index.html", "app.js", "app.css", "login.css", "js/pages/index.js"} <= names
    for path in ASSETS:
        assert path.suffix in CONTENT_TYPES, f"{path.name}: no content type is served for it"


@pytest.mark.parametrize("path", ASSETS, ids=lambda p: p.relative_to(PACKAGE_ASSETS).as_posix())
def test_no_asset_reaches_another_origin(path: Path) -> None:
    text = path.read_text("utf-8").replace(SVG_NAMESPACE, "")
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path.name


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(PACKAGE_ASSETS).as_posix())
def test_scripts_never_turn_data_into_markup_or_code(path: Path) -> None:
    text = path.read_text("utf-8")
    found = UNSAFE.search(text)
    assert found is None, f"{path.name} uses {found.group(0) if found else ''}"
    assert text.startswith("//"), f"{path.name} starts without a comment saying what it owns"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(PACKAGE_ASSETS).as_posix())
def test_every_import_is_a_module_of_the_package(path: Path) -> None:
    for target in IMPORT.findall(path.read_text("utf-8")):
        assert target.startswith("./") or target.startswith("../"), (path.name, target)
        resolved = (path.parent / target).resolve()
        assert resolved.is_file() and resolved.is_relative_to(PACKAGE_ASSETS), (path.name, target)


def test_the_checks_catch_what_they_look_for() -> None:
    assert UNSAFE.search('el.innerHTML = "<b>"')
    assert UNSAFE.search("node.setAttribute('onclick', code)")
    assert not UNSAFE.search('el.textContent = "<b>"')
    assert IMPORT.findall('import { h, fill } from "./dom.js";') == ["./dom.js"]


def test_no_page_path_is_a_server_route() -> None:
    """A page reloaded in the browser is asked of the server: its path must reach the page
    shell, not a route the server answers itself (``/metrics`` is the Prometheus text)."""
    from taskito.dashboard.api.routes import ROUTES

    router = (PACKAGE_ASSETS / "js" / "router.js").read_text("utf-8")
    pages = re.findall(r'\["(/[^"]*)", "[a-z-]+"\]', router)
    assert "/task-metrics" in pages and "/jobs/:id" in pages
    served = {route.path for route in ROUTES} | {"/login"}
    shadowed = [page for page in pages if page in served or page.startswith(("/api/", "/static/"))]
    assert shadowed == [], f"pages the server would answer instead of the shell: {shadowed}"


def test_the_docs_show_every_screenshot_the_browser_tests_take() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    page = (docs / "dashboard.md").read_text("utf-8")
    shown = set(re.findall(r"\(images/dashboard/([a-z-]+\.png)\)", page))
    taken = re.findall(
        r'screenshots\.take\(page, "([a-z-]+)"',
        "".join(p.read_text("utf-8") for p in Path(__file__).parent.glob("browser/test_*.py")),
    )
    assert len(taken) == len(set(taken)), "two tests write the same screenshot"
    assert shown == {f"{name}.png" for name in taken}
    committed = {p.name for p in (docs / "images" / "dashboard").glob("*.png")}
    assert committed == shown
