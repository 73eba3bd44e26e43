"""Nothing in the repository refers to a file outside it: every ``<name>.md`` a file mentions is
in the repository (beside that file, at the root, or in docs/), and no path points into the
machine the code was written on."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("src", "tests", "docs", "README.md", "examples", "deploy", "benchmarks", ".ci")
TEXT_SUFFIXES = frozenset({".py", ".md", ".html", ".js", ".css", ".yaml", ".yml", ".toml", ""})
#: A mention of a Markdown file: ``docs/architecture.md``, ``../../docs/x.md``, ``NOTES.md``
#: (not part of a URL or of a longer name).
MARKDOWN_MENTION = re.compile(r"(?<![\w/.:-])((?:\.\.?/)*(?:[\w.-]+/)*[\w-]+\.md)\b")
#: Paths that only exist where the code was written.
OUTSIDE_PATHS = re.compile(r"/work/|\.\./shared\b|\bshared/spec\b|/home/\w+/")
THIS_FILE = Path(__file__).resolve()
#: Tests that write Markdown pages of their own into a temporary folder and name them.
WRITES_ITS_OWN_PAGES = frozenset({ROOT / "tests" / "docs" / "test_pages.py"})


def scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in files:
            if (
                file.is_file()
                and file.suffix in TEXT_SUFFIXES
                and "__pycache__" not in file.parts
                and file.resolve() != THIS_FILE
                and file.resolve() not in WRITES_ITS_OWN_PAGES
            ):
                yield file


def resolves_inside(file: Path, mention: str) -> bool:
    for base in (file.parent, ROOT, ROOT / "docs"):
        target = (base / mention).resolve()
        if target.is_relative_to(ROOT) and target.is_file():
            return True
    return False


def test_every_markdown_file_mentioned_is_in_the_repository() -> None:
    missing = []
    for file in scanned_files():
        text = file.read_text(encoding="utf-8")
        where = file.relative_to(ROOT).as_posix()
        for match in MARKDOWN_MENTION.finditer(text):
            if not resolves_inside(file, match.group(1)):
                line = text.count("\n", 0, match.start()) + 1
                missing.append(f"{where}:{line}: {match.group(1)}")
    assert missing == [], "mentions of files the repository does not have:\n" + "\n".join(missing)


#: ``[text](target)``: a Markdown link; its target up to an anchor or a title.
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)")


def test_links_of_the_readme_and_the_examples_resolve() -> None:
    """The docs pages' links are the site build's to check (mkdocs build --strict)."""
    files = [ROOT / "README.md", *sorted((ROOT / "examples").rglob("*.md"))]
    broken = []
    for file in files:
        for target in MARKDOWN_LINK.findall(file.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (file.parent / target).resolve()
            inside = resolved.is_relative_to(ROOT)
            if not inside or not (resolved.exists()):
                broken.append(f"{file.relative_to(ROOT).as_posix()}: {target}")
    assert len(files) > 1 and broken == [], broken


def test_no_path_points_outside_the_repository() -> None:
    found = []
    for file in scanned_files():
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE_PATHS.search(line):
                found.append(f"{file.relative_to(ROOT).as_posix()}:{number}: {line.strip()}")
    assert found == [], "\n".join(found)


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """A mention outside the repository, or of a file it lacks, is caught; one inside is not."""
    page = ROOT / "docs" / "architecture.md"
    assert resolves_inside(page, "architecture.md")
    assert resolves_inside(ROOT / "README.md", "docs/architecture.md")
    assert not resolves_inside(page, "DESIGN.md")
    outside = tmp_path / "outside.md"
    outside.write_text("", encoding="utf-8")
    assert not resolves_inside(page, os.path.relpath(outside, page.parent))
    text = "see DESIGN.md and ../shared/spec/taskito-api.md, not https://example.com/a.md"
    assert [m.group(1) for m in MARKDOWN_MENTION.finditer(text)] == [
        "DESIGN.md",
        "../shared/spec/taskito-api.md",
    ]
    assert OUTSIDE_PATHS.search("read /work/shared/DESIGN.md")
