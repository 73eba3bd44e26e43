"""Mermaid and DOT text of a workflow (spec workflows.md §3): the reference's output byte for
byte on plain names, colours and symbols by status, and valid text for other names."""

from __future__ import annotations

import pytest

from taskito.workflows import NodeStatus, Workflow
from taskito.workflows.visualization import render_dot, render_mermaid


class NamedTask:
    """The builder duck-types a task by its name (the spec: tests pass a bare object)."""

    _task_name = "tasks.noop"


TASK = NamedTask()


def linear() -> Workflow:
    return Workflow("linear").step("a", TASK).step("b", TASK, after="a").step("c", TASK, after="b")


def diamond() -> Workflow:
    return (
        Workflow("diamond")
        .step("a", TASK)
        .step("b", TASK, after="a")
        .step("c", TASK, after="a")
        .step("d", TASK, after=["b", "c"])
    )


def test_mermaid_linear() -> None:
    assert linear().visualize() == "graph LR\n  a[a]\n  b[b]\n  c[c]\n  a --> b\n  b --> c"
    assert linear().visualize("mermaid") == linear().visualize()


def test_mermaid_diamond() -> None:
    assert diamond().visualize("mermaid").split("\n") == [
        "graph LR",
        "  a[a]",
        "  b[b]",
        "  c[c]",
        "  d[d]",
        "  a --> b",
        "  a --> c",
        "  b --> d",
        "  c --> d",
    ]


def test_any_format_but_dot_is_mermaid() -> None:
    assert diamond().visualize("svg") == diamond().visualize()
    assert diamond().visualize("DOT").startswith("graph LR")


@pytest.mark.parametrize("statuses", [None, {}])
def test_style_lines_only_with_a_non_empty_statuses_dict(statuses: dict[str, str] | None) -> None:
    text = render_mermaid(["a", "b"], [("a", "b")], statuses)
    assert "style" not in text
    assert text == "graph LR\n  a[a]\n  b[b]\n  a --> b"


def test_mermaid_symbols_and_styles_by_status() -> None:
    names = ["c", "f", "r", "p", "s", "w", "y", "h", "u", "n"]
    statuses = {
        "c": NodeStatus.COMPLETED,
        "f": "failed",
        "r": "running",
        "p": "pending",
        "s": "skipped",
        "w": "waiting_approval",
        "y": "ready",
        "h": "cache_hit",
        "u": "something_new",
    }
    assert render_mermaid(names, [("c", "f")], statuses).split("\n") == [
        "graph LR",
        "  c[c \u2713]",
        "  f[f \u2717]",
        "  r[r \u25b6]",
        "  p[p \u25cb]",
        "  s[s \u2014]",
        "  w[w \u23f8]",
        "  y[y]",
        "  h[h]",
        "  u[u]",
        "  n[n]",
        "  c --> f",
        "  style c fill:#90EE90",
        "  style f fill:#FFB6C1",
        "  style r fill:#87CEEB",
        "  style p fill:#D3D3D3",
        "  style s fill:#F5F5F5",
        "  style w fill:#FFFACD",
        "  style y fill:#E0E0E0",
    ]


def test_dot_linear() -> None:
    assert linear().visualize("dot").split("\n") == [
        "digraph workflow {",
        "  rankdir=LR;",
        '  a [label="a" style=filled fillcolor=white];',
        '  b [label="b" style=filled fillcolor=white];',
        '  c [label="c" style=filled fillcolor=white];',
        "  a -> b;",
        "  b -> c;",
        "}",
    ]
    assert render_dot(["a", "b", "c"], [("a", "b"), ("b", "c")]) == linear().visualize("dot")


def test_dot_colours_by_status() -> None:
    names = ["c", "f", "r", "p", "s", "w", "y", "h", "n"]
    statuses = {
        "c": "completed",
        "f": NodeStatus.FAILED,
        "r": "running",
        "p": "pending",
        "s": "skipped",
        "w": "waiting_approval",
        "y": "ready",
        "h": "cache_hit",
    }
    assert render_dot(names, [], statuses).split("\n")[2:-1] == [
        '  c [label="c \u2713" style=filled fillcolor=lightgreen];',
        '  f [label="f \u2717" style=filled fillcolor=lightcoral];',
        '  r [label="r \u25b6" style=filled fillcolor=lightskyblue];',
        '  p [label="p \u25cb" style=filled fillcolor=lightgray];',
        '  s [label="s \u2014" style=filled fillcolor=whitesmoke];',
        '  w [label="w \u23f8" style=filled fillcolor=lightyellow];',
        '  y [label="y" style=filled fillcolor=gainsboro];',
        '  h [label="h" style=filled fillcolor=white];',
        '  n [label="n" style=filled fillcolor=white];',
    ]


def test_the_text_has_no_trailing_newline() -> None:
    assert not diamond().visualize().endswith("\n")
    assert diamond().visualize("dot").endswith("\n}")


def test_brackets_and_spaces_become_underscores_in_ids() -> None:
    names = ["load data", "process[0]"]
    assert render_mermaid(names, [("load data", "process[0]")]).split("\n")[1:] == [
        "  load_data[load data]",
        '  process_0_["process[0]"]',
        "  load_data --> process_0_",
    ]
    assert render_dot(names, [("load data", "process[0]")]).split("\n")[2:-1] == [
        '  load_data [label="load data" style=filled fillcolor=white];',
        '  process_0_ [label="process[0]" style=filled fillcolor=white];',
        "  load_data -> process_0_;",
    ]


def test_a_name_with_quotes_and_dashes_stays_valid() -> None:
    workflow = Workflow().step('say "hi"', TASK).step("load-data", TASK, after='say "hi"')
    assert workflow.visualize().split("\n") == [
        "graph LR",
        '  say__22_hi_22_["say #quot;hi#quot;"]',
        '  load_2d_data["load-data"]',
        "  say__22_hi_22_ --> load_2d_data",
    ]
    assert workflow.visualize("dot").split("\n") == [
        "digraph workflow {",
        "  rankdir=LR;",
        '  "say_\\"hi\\"" [label="say \\"hi\\"" style=filled fillcolor=white];',
        '  "load-data" [label="load-data" style=filled fillcolor=white];',
        '  "say_\\"hi\\"" -> "load-data";',
        "}",
    ]


def test_dot_quotes_keywords_and_ids_starting_with_a_digit() -> None:
    text = render_dot(["node", "Graph", "1st", "42", "_x1"], [("1st", "node")])
    assert text.split("\n")[2:-1] == [
        '  "node" [label="node" style=filled fillcolor=white];',
        '  "Graph" [label="Graph" style=filled fillcolor=white];',
        '  "1st" [label="1st" style=filled fillcolor=white];',
        '  42 [label="42" style=filled fillcolor=white];',
        '  _x1 [label="_x1" style=filled fillcolor=white];',
        '  "1st" -> "node";',
    ]


def test_dot_escapes_backslashes() -> None:
    assert render_dot(["a\\b"], []).split("\n")[2] == (
        '  "a\\\\b" [label="a\\\\b" style=filled fillcolor=white];'
    )
