"""TaskMiddleware: every hook is a safe no-op with the documented signature."""

from __future__ import annotations

import inspect
import types
from typing import Any

import pytest

from taskito.middleware import TaskMiddleware

HOOK_PARAMETERS = {
    "before": ["ctx"],
    "after": ["ctx", "result", "error"],
    "on_retry": ["ctx", "error", "retry_count"],
    "on_dead_letter": ["ctx", "error"],
    "on_timeout": ["ctx"],
    "on_cancel": ["ctx"],
    "on_enqueue": ["task_name", "args", "kwargs", "options"],
}


def _ctx() -> types.SimpleNamespace:
    return types.SimpleNamespace(id="j1", task_name="t", queue_name="default", retry_count=2)


def test_every_hook_on_the_base_class_is_a_no_op() -> None:
    middleware = TaskMiddleware()
    ctx = _ctx()
    options: dict[str, Any] = {"priority": 1}

    assert middleware.before(ctx) is None  # type: ignore[arg-type]
    assert middleware.after(ctx, 42, None) is None  # type: ignore[arg-type]
    assert middleware.after(ctx, None, ValueError("x")) is None  # type: ignore[arg-type]
    assert middleware.on_retry(ctx, RuntimeError("tb"), 1) is None
    assert middleware.on_dead_letter(ctx, RuntimeError("tb")) is None
    assert middleware.on_timeout(ctx) is None
    assert middleware.on_cancel(ctx) is None
    assert middleware.on_enqueue("t", (1,), {"a": 2}, options) is None
    assert options == {"priority": 1}
    assert vars(ctx) == vars(_ctx())


@pytest.mark.parametrize(("hook", "parameters"), sorted(HOOK_PARAMETERS.items()))
def test_hook_signatures_match_the_spec(hook: str, parameters: list[str]) -> None:
    signature = inspect.signature(getattr(TaskMiddleware, hook))
    assert list(signature.parameters)[1:] == parameters


@pytest.mark.parametrize("hook", sorted(HOOK_PARAMETERS))
def test_each_hook_documents_the_process_it_runs_in(hook: str) -> None:
    doc = inspect.getdoc(getattr(TaskMiddleware, hook)) or ""
    assert "process" in doc


def test_a_subclass_overrides_only_what_it_needs() -> None:
    seen: list[tuple[str, Any]] = []

    class Tracing(TaskMiddleware):
        def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
            seen.append(("retry", retry_count))

        def on_enqueue(
            self,
            task_name: str,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
            options: dict[str, Any],
        ) -> None:
            options["priority"] = 9

    middleware = Tracing()
    options: dict[str, Any] = {}
    middleware.on_enqueue("t", (), {}, options)
    middleware.on_retry(_ctx(), RuntimeError("x"), 3)
    middleware.on_cancel(_ctx())  # inherited no-op
    middleware.before(_ctx())  # type: ignore[arg-type]

    assert options == {"priority": 9}
    assert seen == [("retry", 3)]


def test_middleware_subclass_can_call_super_hooks() -> None:
    class Chained(TaskMiddleware):
        def on_timeout(self, ctx: Any) -> None:
            super().on_timeout(ctx)
            ctx.timed_out = True

    ctx = _ctx()
    Chained().on_timeout(ctx)
    assert ctx.timed_out is True
