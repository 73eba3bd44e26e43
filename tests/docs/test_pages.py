"""tests/docs/pages.py reads a page's examples as the docs test runs them: numbered per page,
with the output the page shows, the markers before them, and every layout mistake reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.pages import Example, all_examples, examples_of

FENCE = "```"


def page(tmp_path: Path, text: str, name: str = "page.md") -> list[Example]:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("~~~", FENCE))
    return examples_of(path, tmp_path)


def test_blocks_are_numbered_per_page_with_what_they_print(tmp_path: Path) -> None:
    examples = page(
        tmp_path,
        "# A page\n\n~~~python\nprint(1)\n~~~\n\nIt prints:\n\n~~~\n1\n~~~\n\n"
        "~~~bash\nls\n~~~\n\n~~~python\nx = 2\n~~~\n\nthen prose.\n",
    )
    assert [(e.id, e.code, e.expected) for e in examples] == [
        ("page.md#0", "print(1)\n", "1\n"),
        ("page.md#1", "x = 2\n", None),
    ]
    assert [e.line for e in examples] == [3, 17]
    assert all(e.problem is None and e.not_run is None and e.needs is None for e in examples)


def test_pages_in_folders_are_named_by_their_path(tmp_path: Path) -> None:
    page(tmp_path, "~~~python\npass\n~~~\n", name="reference/queue.md")
    page(tmp_path, "~~~python\npass\n~~~\n", name="a.md")
    assert [e.id for e in all_examples(tmp_path)] == ["a.md#0", "reference/queue.md#0"]


def test_a_block_with_attributes_or_the_short_name_is_an_example(tmp_path: Path) -> None:
    examples = page(
        tmp_path,
        '~~~python title="tasks.py"\nx = 1\n~~~\n\n~~~py\ny = 2\n~~~\n\n~~~pycon\n>>> 1\n~~~\n'
        "\n~~~{.python}\nz = 3\n~~~\n\nIt prints:\n\n~~~text\n3\n~~~\n",
    )
    assert [(e.code, e.expected) for e in examples] == [
        ("x = 1\n", None),
        ("y = 2\n", None),
        ("z = 3\n", "3\n"),
    ]


def test_an_indented_block_loses_its_indent(tmp_path: Path) -> None:
    (example,) = page(tmp_path, "* item\n\n    ~~~python\n    if True:\n        pass\n    ~~~\n")
    assert example.code == "if True:\n    pass\n"


def test_markers_before_a_block_are_read(tmp_path: Path) -> None:
    examples = page(
        tmp_path,
        "<!-- not run: serves until Ctrl-C -->\n\n~~~python\nserve()\n~~~\n\n"
        "<!-- needs: postgres -->\n~~~python\npass\n~~~\n",
    )
    assert [(e.not_run, e.needs, e.problem) for e in examples] == [
        ("serves until Ctrl-C", None, None),
        (None, "postgres", None),
    ]


@pytest.mark.parametrize(
    ("before", "problem"),
    [
        ("<!-- not run: -->", "gives no reason"),
        ("<!-- not run -->", "a malformed marker"),
        ("<!-- needs: mysql -->", "a block needs one of ('postgres', 'redis')"),
        ("<!-- skip: because -->", "unknown marker '<!-- skip: ... -->'"),
    ],
)
def test_a_bad_marker_is_a_problem(tmp_path: Path, before: str, problem: str) -> None:
    (example,) = page(tmp_path, f"{before}\n~~~python\npass\n~~~\n")
    assert example.problem is not None and problem in example.problem


@pytest.mark.parametrize(
    "after", ["It prints:\n\nsome prose\n", "It prints:\n\n~~~python\n1\n~~~\n", "It prints:\n"]
)
def test_it_prints_without_a_plain_block_is_a_problem(tmp_path: Path, after: str) -> None:
    examples = page(tmp_path, f"~~~python\nprint(1)\n~~~\n\n{after}")
    assert examples[0].problem == "'It prints:' is not followed by a plain ``` block"


def test_an_unclosed_block_runs_to_the_end_of_the_page(tmp_path: Path) -> None:
    (example,) = page(tmp_path, "~~~python\nprint(1)\n")
    assert example.code == "print(1)\n"
