"""``taskito workflows list|show|approve|reject|cancel``: durable workflow runs of this app's
namespace (``Queue.list_workflow_runs``, ``workflow_run_detail``), a run's nodes and its
Mermaid picture, the decision on a waiting gate (``Queue.approve_gate``, ``reject_gate``) and
cancelling a run with its child runs (``WorkflowRun.cancel``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

import taskito
from taskito.cli import jobs, options, output
from taskito.cli.errors import EXIT_ALREADY_FINISHED, EXIT_OK, EXIT_USAGE, CommandError, not_found

#: The states of a run (``WorkflowState``), for ``list --state``.
STATES = ("pending", "running", "completed", "failed", "cancelled", "paused", "cancelling")
FINISHED = frozenset({"completed", "failed", "cancelled"})
#: Node statuses that mean a gate has been decided (or skipped).
DECIDED = frozenset({"completed", "failed", "skipped", "cache_hit"})
DEFAULT_LIMIT = 20


def node_counts(counts: object) -> str:
    """``completed 2, pending 1`` from ``{"completed": 2, "pending": 1}``."""
    if not isinstance(counts, Mapping) or not counts:
        return output.NONE
    return ", ".join(f"{status} {count}" for status, count in counts.items())


RUN_COLUMNS = (
    output.Column("id", "ID"),
    output.Column("name", "NAME", max_width=30),
    output.Column("version", "VERSION", right=True),
    output.Column("state", "STATE"),
    output.Column("node_counts", "NODES", node_counts, max_width=60),
    output.Column("started_at", "STARTED", output.timestamp),
    output.Column("completed_at", "FINISHED", output.timestamp),
    output.Column("error", "ERROR", output.last_line, max_width=50),
)
NODE_COLUMNS = (
    output.Column("name", "NODE", max_width=40),
    output.Column("kind", "KIND"),
    output.Column("status", "STATUS"),
    output.Column("job_id", "JOB"),
    output.Column("child_run_id", "CHILD RUN"),
    output.Column("gate_deadline_at", "GATE DEADLINE", output.timestamp),
    output.Column("error", "ERROR", output.last_line, max_width=50),
)
_RUN_FIELDS = (
    ("id", "id"),
    ("name", "name"),
    ("version", "version"),
    ("state", "state"),
    ("started_at", "started"),
    ("completed_at", "finished"),
    ("parent_run_id", "parent run"),
    ("parent_node_name", "parent node"),
    ("base_run_id", "base run"),
    ("node_counts", "nodes"),
    ("error", "error"),
)


def register(commands: options.Commands) -> None:
    group = commands.add_parser("workflows", help="list workflow runs, show one, decide a gate")
    actions = options.add_actions(group)
    listing = _action(actions, "list", "workflow runs, newest first", list_command)
    listing.add_argument("--state", choices=STATES, help="only runs in this state")
    listing.add_argument(
        "--limit",
        type=options.positive_int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show at most N (default: {DEFAULT_LIMIT})",
    )
    jobs.add_after_argument(listing)
    output.add_format_argument(listing)
    show = _action(
        actions, "show", "a run's fields, its nodes, its child runs and its picture", show_command
    )
    show.add_argument("run_id", metavar="RUN_ID")
    output.add_format_argument(show)
    approve = _action(actions, "approve", "approve a gate waiting for a decision", approve_command)
    approve.add_argument("run_id", metavar="RUN_ID")
    approve.add_argument("node", metavar="GATE", help="the gate's step name")
    reject = _action(
        actions, "reject", "reject a gate: its on_success successors skip", reject_command
    )
    reject.add_argument("run_id", metavar="RUN_ID")
    reject.add_argument("node", metavar="GATE", help="the gate's step name")
    reject.add_argument(
        "--error", default="rejected", metavar="TEXT", help="why (default: 'rejected')"
    )
    cancel = _action(
        actions,
        "cancel",
        "cancel a run and its child runs; running jobs are asked to stop",
        cancel_command,
    )
    cancel.add_argument("run_id", metavar="RUN_ID")
    options.finish_actions(actions)


def _action(
    actions: options.Commands, name: str, help: str, handler: options.Handler
) -> options.Parser:
    return options.add_command(
        actions, name, help=help, handler=handler, command_name=f"workflows {name}"
    )


# --- list and show ------------------------------------------------------------------------


def list_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    page = jobs.keyset_page(
        lambda: queue.list_workflow_runs(args.state, limit=args.limit, after=args.after)
    )
    empty = "no workflow runs match" if args.state else "no workflow runs"
    output.render(list(page), RUN_COLUMNS, args.format, empty=empty)
    if args.format == "table":
        jobs.print_next_cursor(page.next_cursor)
    return EXIT_OK


def _detail(queue: taskito.Queue, run_id: str) -> dict[str, Any]:
    try:
        return queue.workflow_run_detail(run_id)
    except KeyError:
        raise not_found(f"workflow run with id {run_id!r}") from None


def show_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    detail = _detail(queue, args.run_id)
    picture = mermaid(detail)
    children = queue.workflow_run_children(args.run_id)
    if args.format == "json":
        output.print_json({**detail, "children": children, "mermaid": picture})
        return EXIT_OK
    print(format_run(detail))
    print()
    print(f"nodes ({len(detail['nodes'])}):")
    print(output.format_table(detail["nodes"], NODE_COLUMNS))
    if children:
        print()
        print(f"child runs ({len(children)}):")
        print(output.format_table(children, RUN_COLUMNS))
    print()
    print("picture (Mermaid):")
    print(picture)
    return EXIT_OK


def format_run(detail: Mapping[str, Any]) -> str:
    fields = []
    for key, label in _RUN_FIELDS:
        value = detail.get(key)
        if key.endswith("_at"):
            shown = output.timestamp(value)
        elif key == "node_counts":
            shown = node_counts(value)
        elif key == "error":
            shown = output.last_line(value)
        else:
            shown = output.text(value)
        fields.append((label, shown))
    return output.format_fields(fields)


def mermaid(detail: Mapping[str, Any]) -> str:
    """The run's DAG with each step's status, as ``WorkflowRun.visualize`` draws it (fan-out
    children are not steps of the definition, so they are not drawn)."""
    from taskito.workflows.visualization import render_mermaid

    steps = detail["dag"]["nodes"]
    edges = [(edge["from"], edge["to"]) for edge in detail["dag"]["edges"]]
    statuses = {step["name"]: step["status"] for step in steps}
    return render_mermaid([step["name"] for step in steps], edges, statuses)


# --- gates --------------------------------------------------------------------------------


def _gate(queue: taskito.Queue, run_id: str, name: str) -> dict[str, Any]:
    """The gate node ``name`` of the run, still undecided; a clear error otherwise."""
    detail = _detail(queue, run_id)
    nodes: list[dict[str, Any]] = detail["nodes"]
    node = next((node for node in nodes if node["name"] == name), None)
    if node is None:
        raise not_found(f"node {name!r} in workflow run {run_id!r}")
    if node["kind"] != "gate":
        raise CommandError(f"node {name!r} is a {node['kind']} step, not a gate", EXIT_USAGE)
    if node["status"] in DECIDED:
        raise CommandError(
            f"gate {name!r} was already decided ({node['status']}); nothing changed",
            EXIT_ALREADY_FINISHED,
        )
    return node


def _decide(run_id: str, name: str, decide: Callable[[], object]) -> None:
    try:
        decide()
    except KeyError:
        raise not_found(f"node {name!r} in workflow run {run_id!r}") from None
    except ValueError as exc:  # decided by someone else meanwhile
        raise CommandError(str(exc), EXIT_ALREADY_FINISHED) from None


def _decided(status: str, verb: str, run_id: str, name: str) -> str:
    if status == "waiting_approval":
        return f"gate {name!r} of workflow run {run_id} {verb}"
    return (
        f"gate {name!r} of workflow run {run_id} {verb} in advance: applied when the run reaches it"
    )


def approve_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    gate = _gate(queue, args.run_id, args.node)
    _decide(args.run_id, args.node, lambda: queue.approve_gate(args.run_id, args.node))
    print(_decided(gate["status"], "approved", args.run_id, args.node))
    return EXIT_OK


def reject_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    if not args.error.strip():
        raise CommandError("--error must not be blank", EXIT_USAGE)
    gate = _gate(queue, args.run_id, args.node)
    _decide(
        args.run_id,
        args.node,
        lambda: queue.reject_gate(args.run_id, args.node, error=args.error),
    )
    print(_decided(gate["status"], "rejected", args.run_id, args.node))
    return EXIT_OK


# --- cancel -------------------------------------------------------------------------------


def cancel_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    from taskito.workflows import WorkflowRun

    detail = _detail(queue, args.run_id)
    if detail["state"] in FINISHED:
        raise CommandError(
            f"workflow run {args.run_id} had already finished ({detail['state']}); "
            "nothing to cancel",
            EXIT_ALREADY_FINISHED,
        )
    WorkflowRun(queue, args.run_id, detail["name"]).cancel()
    state = _detail(queue, args.run_id)["state"]
    if state != "cancelled":
        raise CommandError(
            f"workflow run {args.run_id} finished ({state}) before the cancel reached it",
            EXIT_ALREADY_FINISHED,
        )
    print(f"workflow run {args.run_id} cancelled")
    return EXIT_OK
