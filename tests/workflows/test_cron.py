"""Cron-launched workflows (workflows spec 2.12; spec 4, "cron")."""

from __future__ import annotations

from taskito.workflows import WorkflowProxy, WorkflowState
from tests.helpers import wait_until
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp


def test_periodic_over_a_proxy_registers_a_launcher_and_keeps_the_proxy(
    app: WorkflowApp,
) -> None:
    proxy = app.queue.periodic("* * * * * *")(app.child)
    assert proxy is app.child and isinstance(proxy, WorkflowProxy)
    assert "_wf_launcher_child" in app.queue._task_registry
    spec = app.queue._periodic["_wf_launcher_child"]
    assert spec.task_name == "_wf_launcher_child" and spec.args == () and spec.kwargs == {}
    assert proxy.build().step_names == ["first", "second"]  # still a proxy
    with app.worker():
        runs = wait_until(
            lambda: app.queue._storage.list_workflow_runs("completed", None, 10, None),
            RUN_TIMEOUT_S,
            message="a launched run to complete",
        )
    assert runs[0].name == "child"
    launches = app.queue.list_jobs(status="complete", task_name="_wf_launcher_child")
    assert launches
    ids = {run.id for run in app.queue._storage.list_workflow_runs(None, None, 100, None)}
    for job in launches:
        text = job.result(timeout=1)
        assert text.startswith("submitted workflow run ")
        assert text.removeprefix("submitted workflow run ") in ids
    assert runs[0].state == WorkflowState.COMPLETED.value
