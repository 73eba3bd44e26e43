"""With a signing key, everything a run stores for later (deferred payloads, callable
conditions, sub-workflow params) is signed, and a forged condition is never unpickled."""

from __future__ import annotations

import pickle
import sqlite3

from taskito.workflows import NodeStatus, Workflow, WorkflowState
from tests.workflows.conftest import MakeApp
from tests.workflows.harness import RUN_TIMEOUT_S
from tests.workflows.test_pools_and_backends import run_everything

KEY = "a-signing-key-of-enough-length"


def test_every_feature_with_a_signing_key(make_app: MakeApp) -> None:
    run_everything(make_app(signing_key=KEY), "thread")


def test_a_rewritten_condition_is_refused_and_its_step_skipped(make_app: MakeApp) -> None:
    app = make_app(signing_key=KEY)
    wf = Workflow(name="forged")
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.tag, args=("b",), after="a", condition=lambda ctx: True)
    run = app.queue.submit_workflow(wf)
    db = sqlite3.connect(app.target.kwargs["db_path"])
    try:
        with db:
            db.execute(
                "UPDATE workflow_nodes SET condition_blob = ? WHERE run_id = ? AND name = 'b'",
                (pickle.dumps(print), run.id),
            )
    finally:
        db.close()
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.nodes["b"].status is NodeStatus.SKIPPED
    assert final.state is WorkflowState.COMPLETED
    assert app.calls("b") == 0
