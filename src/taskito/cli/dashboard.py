"""``taskito dashboard``: serve the dashboard (docs/dashboard.md), or manage who may sign in
to it: users with a role (admin or viewer) and bearer tokens for scripts and ``/metrics``.

Passwords are read from the terminal (asked twice) or, when stdin is not a terminal, from
its first line; never from the command line, where other users could see them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, TextIO

import taskito
from taskito.cli import options
from taskito.cli.errors import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from taskito.dashboard import Users

ROLES = ("admin", "viewer")
AUTH_CHOICES = {"auto": None, "on": True, "off": False}


def register(commands: options.Commands) -> None:
    parser = commands.add_parser(
        "dashboard",
        help="serve the web dashboard, or manage its users and tokens",
        description="Serve the dashboard on 127.0.0.1:8080 (any other address needs a user "
        "or token first), or run one user/token action and exit.",
    )
    options.add_app_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8080, help="default: 8080")
    parser.add_argument(
        "--root-path", default="", metavar="PREFIX", help="the prefix a proxy strips, e.g. /taskito"
    )
    parser.add_argument(
        "--auth",
        choices=tuple(AUTH_CHOICES),
        default="auto",
        help="auto (default): on once a user or token exists; on: required; off: loopback only",
    )
    parser.add_argument(
        "--secure-cookies",
        action="store_true",
        default=None,
        help="mark cookies Secure (behind a proxy that terminates https)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=None,
        metavar="NAME",
        help="a Host name the dashboard answers to (repeat; default: any with auth on)",
    )
    actions = parser.add_mutually_exclusive_group()
    for flag, help_text in (
        ("--create-user", "add a user (with --role; password from the prompt or stdin)"),
        ("--set-password", "change a user's password (ends their sessions)"),
        ("--set-role", "change a user's role (with --role)"),
        ("--delete-user", "remove a user"),
        ("--create-token", "make a bearer token (with --role) and print it once"),
        ("--revoke-token", "delete the tokens of that name"),
    ):
        actions.add_argument(flag, metavar="NAME", help=help_text)
    actions.add_argument("--list-users", action="store_true", help="print users and roles")
    actions.add_argument("--list-tokens", action="store_true", help="print token names")
    parser.add_argument("--role", choices=ROLES, default=None, help="admin or viewer")
    parser.set_defaults(handler=command)


def _port(value: str) -> int:
    port = options.positive_int(value)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"expected a port up to 65535, got {port}")
    return port


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    try:
        import taskito.dashboard as dashboard
    except ImportError as exc:
        print(f"taskito dashboard: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    users = dashboard.Users(queue)
    if _is_action(args):
        return run_action(users, args, sys.stdin, sys.stdout)
    dashboard.serve_dashboard(
        queue,
        host=args.host,
        port=args.port,
        auth=AUTH_CHOICES[args.auth],
        secure_cookies=args.secure_cookies,
        allowed_hosts=args.allowed_host,
        root_path=args.root_path.rstrip("/"),
    )
    return EXIT_OK


def _is_action(args: argparse.Namespace) -> bool:
    names = ("create_user", "set_password", "set_role", "delete_user", "create_token")
    return (
        any(getattr(args, name) is not None for name in (*names, "revoke_token"))
        or args.list_users
        or args.list_tokens
    )


def run_action(users: Users, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    """One user or token action; ``ValueError`` (exit 2) for a refused one."""
    needs_role = args.create_user or args.set_role or args.create_token
    if needs_role and args.role is None:
        raise ValueError("--role admin or --role viewer is required")
    if not needs_role and args.role is not None:
        raise ValueError("--role goes with --create-user, --set-role or --create-token")
    if args.list_users or args.list_tokens:
        rows = users.list_users() if args.list_users else users.list_tokens()
        for row in rows:
            print(f"{row['name']}\t{row['role']}", file=out)
    else:
        print(_change(users, args, stdin), file=out)
    return EXIT_OK


def _change(users: Users, args: argparse.Namespace, stdin: TextIO) -> str:
    """Apply one change; return the line to print (a new token is printed alone)."""
    if args.create_user:
        users.create(args.create_user, read_password(stdin, confirm=True), args.role)
        return f"user {args.create_user!r} created ({args.role})"
    if args.set_password:
        users.set_password(args.set_password, read_password(stdin, confirm=True))
        return f"password of {args.set_password!r} changed; their sessions ended"
    if args.set_role:
        users.set_role(args.set_role, args.role)
        return f"user {args.set_role!r} is now {args.role}"
    if args.delete_user:
        if not users.delete(args.delete_user):
            raise ValueError(f"no user named {args.delete_user!r}")
        return f"user {args.delete_user!r} deleted"
    if args.create_token:
        return users.create_token(args.create_token, args.role)
    return f"{users.revoke_token(args.revoke_token)} token(s) revoked"


def read_password(stdin: TextIO, *, confirm: bool) -> str:
    """From the terminal (without echo, asked twice) or the first line of stdin."""
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Repeat it: ") != password:
            raise ValueError("the two passwords differ")
        return password
    line = stdin.readline()
    if not line:
        raise ValueError("no password: type it at the prompt or pipe it on stdin")
    return line.rstrip("\r\n")
