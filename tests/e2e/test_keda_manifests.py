"""The KEDA examples in deploy/keda/ hold together and work against the real thing.

They parse; each names the kinds and fields KEDA and Kubernetes expect; the ScaledObjects scale
the worker Deployment; every ``taskito`` command in them is accepted by the real CLI parser;
each metrics-api trigger, pointed at a real scaler server, finds a number at its
``valueLocation`` equal to the pending jobs of its queue; and the ScaledJob's command, run for
real, drains and ends with status 0 so its Kubernetes Job completes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from taskito import Queue
from taskito.cli.main import build_parser
from taskito.scaler import METRIC_NAME, start_scaler
from tests.e2e.cli_project import COMMAND_TIMEOUT_S, Project

KEDA_DIR = Path(__file__).resolve().parents[2] / "deploy" / "keda"
KEDA_API = "keda.sh/v1alpha1"

EXPECTED_KINDS = {
    "worker-deployment.yaml": ["Deployment"],
    "scaler.yaml": ["Deployment", "Service"],
    "scaledobject-metrics-api.yaml": ["ScaledObject"],
    "scaledobject-prometheus.yaml": ["ScaledObject"],
    "scaledjob.yaml": ["ScaledJob"],
}


def documents(filename: str) -> list[dict[str, Any]]:
    with open(KEDA_DIR / filename, encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def the(filename: str, kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents(filename) if doc["kind"] == kind]
    return found


def container(pod_template: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_template["spec"]["containers"]
    return only


def taskito_args(command: list[str]) -> list[str]:
    """The arguments after ``taskito`` in a container command (a wrapper may come first)."""
    return command[command.index("taskito") + 1 :]


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def triggers(kind_filter: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for filename in EXPECTED_KINDS:
        for doc in documents(filename):
            if doc["kind"] == kind_filter:
                found += [(filename, trigger) for trigger in doc["spec"]["triggers"]]
    return found


def worker_queue_of(filename: str) -> str:
    """The queue the workers that this KEDA object scales consume (their --queues)."""
    doc = documents(filename)[0]
    if doc["kind"] == "ScaledJob":
        pod = doc["spec"]["jobTargetRef"]["template"]
    else:
        target = doc["spec"]["scaleTargetRef"]["name"]
        deployment = the("worker-deployment.yaml", "Deployment")
        assert deployment["metadata"]["name"] == target
        pod = deployment["spec"]["template"]
    return option(taskito_args(container(pod)["command"]), "--queues")


def test_every_manifest_parses_with_the_kinds_expected() -> None:
    assert sorted(p.name for p in KEDA_DIR.glob("*.yaml")) == sorted(EXPECTED_KINDS)
    for filename, kinds in EXPECTED_KINDS.items():
        docs = documents(filename)
        assert [doc["kind"] for doc in docs] == kinds, filename
        for doc in docs:
            assert doc["metadata"]["name"], filename
            expected_api = KEDA_API if doc["kind"].startswith("Scaled") else None
            if expected_api:
                assert doc["apiVersion"] == expected_api, filename


def test_the_scaled_objects_scale_the_worker_deployment() -> None:
    worker = the("worker-deployment.yaml", "Deployment")
    for filename in ("scaledobject-metrics-api.yaml", "scaledobject-prometheus.yaml"):
        spec = the(filename, "ScaledObject")["spec"]
        assert spec["scaleTargetRef"]["name"] == worker["metadata"]["name"]
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert len(spec["triggers"]) == 1


def test_every_taskito_command_is_one_the_cli_accepts() -> None:
    pods = [
        the("worker-deployment.yaml", "Deployment")["spec"]["template"],
        the("scaler.yaml", "Deployment")["spec"]["template"],
        the("scaledjob.yaml", "ScaledJob")["spec"]["jobTargetRef"]["template"],
    ]
    commands = [taskito_args(container(pod)["command"]) for pod in pods]
    assert [args[0] for args in commands] == ["worker", "scaler", "worker"]
    parser = build_parser()
    for args in commands:
        parsed = parser.parse_args(args)  # a usage error raises SystemExit
        assert parsed.app == "myproject.tasks:queue"


def test_the_service_reaches_the_scaler_and_its_probes_use_health_and_readiness() -> None:
    deployment = the("scaler.yaml", "Deployment")
    service = the("scaler.yaml", "Service")
    pod = deployment["spec"]["template"]
    scaler = container(pod)
    args = taskito_args(scaler["command"])
    (port,) = scaler["ports"]
    assert option(args, "--host") == "0.0.0.0"
    assert int(option(args, "--port")) == port["containerPort"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    assert scaler["livenessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    assert scaler["readinessProbe"]["httpGet"] == {"path": "/readiness", "port": port["name"]}
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == port["containerPort"]


def test_metrics_api_triggers_ask_the_scaler_service_about_their_workers_queue() -> None:
    service = the("scaler.yaml", "Service")
    scaler_args = taskito_args(
        container(the("scaler.yaml", "Deployment")["spec"]["template"])["command"]
    )
    found = triggers("ScaledObject") + triggers("ScaledJob")
    metrics_api = [(f, t) for f, t in found if t["type"] == "metrics-api"]
    assert sorted(f for f, _ in metrics_api) == ["scaledjob.yaml", "scaledobject-metrics-api.yaml"]
    for filename, trigger in metrics_api:
        meta = trigger["metadata"]
        url = urlsplit(meta["url"])
        name, namespace = service["metadata"]["name"], "default"
        assert url.hostname == f"{name}.{namespace}.svc.cluster.local", filename
        assert url.port == service["spec"]["ports"][0]["port"], filename
        assert url.path == "/api/scaler", filename
        assert parse_qs(url.query) == {"queue": [worker_queue_of(filename)]}, filename
        assert (meta["format"], meta["valueLocation"]) == ("json", "metricValue"), filename
        # KEDA's target is the scaler's target depth: both say "pending jobs per worker".
        assert float(meta["targetValue"]) == float(option(scaler_args, "--target-queue-depth"))
        assert float(meta["activationTargetValue"]) >= 0


def gjson_get(document: Any, path: str) -> Any:
    """The value at a GJSON path of plain keys and indexes (``a.b.0.c``), KEDA's syntax for
    ``valueLocation``; fails on a path that does not resolve."""
    for part in path.split("."):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


@pytest.mark.parametrize("filename", ["scaledobject-metrics-api.yaml", "scaledjob.yaml"])
def test_metrics_api_triggers_read_a_number_from_the_real_scaler(
    filename: str, tmp_path: Path
) -> None:
    (trigger,) = documents(filename)[0]["spec"]["triggers"]
    meta = trigger["metadata"]
    queue_name = worker_queue_of(filename)
    with Queue(db_path=str(tmp_path / "keda.db")) as queue:
        for _ in range(7):
            queue.enqueue("t", queue=queue_name)
        queue.enqueue("t", queue="elsewhere")
        with start_scaler(queue, port=0) as server:
            # The manifest's URL, its host and port swapped for the server's.
            url = urlsplit(meta["url"])._replace(netloc=urlsplit(server.url).netloc)
            with urllib.request.urlopen(urlunsplit(url), timeout=10) as answer:
                assert answer.status == 200
                payload = json.loads(answer.read())
    value = gjson_get(payload, meta["valueLocation"])
    assert isinstance(value, int | float) and not isinstance(value, bool)
    assert value == 7
    assert payload["metricName"] == f"{METRIC_NAME}_{queue_name}"


def test_the_prometheus_trigger_queries_the_queue_depth_gauge_of_the_workers_queue(
    tmp_path: Path,
) -> None:
    ((_, trigger),) = [(f, t) for f, t in triggers("ScaledObject") if t["type"] == "prometheus"]
    meta = trigger["metadata"]
    assert urlsplit(meta["serverAddress"]).scheme == "http"
    queue_name = worker_queue_of("scaledobject-prometheus.yaml")
    match = re.fullmatch(r"max\((\w+)\{queue=\"([^\"]+)\",status=\"pending\"\}\)", meta["query"])
    assert match is not None, meta["query"]
    assert match.groups() == (METRIC_NAME, queue_name)
    assert float(meta["threshold"]) > 0 and float(meta["activationThreshold"]) >= 0
    # The scaler's /metrics serves that gauge: one pending job in the worker's queue.
    with Queue(db_path=str(tmp_path / "prom.db")) as queue:
        queue.enqueue("t", queue=queue_name)
        with (
            start_scaler(queue, port=0) as server,
            urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer,
        ):
            text = answer.read().decode()
    pending = [
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == METRIC_NAME
        for sample in family.samples
        if sample.labels == {"queue": queue_name, "status": "pending"}
    ]
    assert pending == [1.0]


def test_the_scaled_jobs_worker_drains_and_ends_with_status_0(
    project: Project, producer: Queue
) -> None:
    """Its command runs for real, with the app and duration shortened for the test: the
    worker does the queue's jobs, and ``timeout`` ends it with status 0 (the Job succeeds)."""
    pod = the("scaledjob.yaml", "ScaledJob")["spec"]["jobTargetRef"]["template"]
    command = list(container(pod)["command"])
    assert command[:3] == ["timeout", "--preserve-status", "--signal=TERM"]
    command[3] = "3"  # seconds the worker runs before it is told to drain
    at = command.index("taskito")
    command[at : at + 1] = [sys.executable, "-m", "taskito"]
    command[command.index("--app") + 1] = "app_module:queue"
    queue_name = option(command, "--queues")
    job = producer.enqueue("app_module.add", args=(2, 3), queue=queue_name)
    done = subprocess.run(
        command,
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    finished = producer.get_job(job.id)
    assert finished is not None and finished.status == "complete", done.stderr
    assert finished.result(timeout=1) == 5
