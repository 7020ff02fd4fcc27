"""No leaks on the paths a `dag.test()` cannot show, against a fake API server (kmock over HTTP):

- a user marks a running step failed (or clears it): in sync mode Airflow calls ``on_kill()`` in the task
  process, which deletes the running pod and the step's PVC at once; in deferrable mode the triggerer calls
  the trigger's ``on_kill()``, which does the same;
- the worker dies (SIGKILL, no ``on_kill``), in sync mode while a pod runs, in deferrable mode before the
  deferral reached the triggerer: the pod and the PVC are left; the run's teardown deletes every object of
  that run by label and leaves other runs' and other DAGs' objects alone;
- ``taskspec gc --older-than 6h`` deletes old taskspec pods and PVCs and keeps young and foreign ones.

The example pipeline's kubernetes step operators run in this process (or a child process that gets killed),
as Airflow's task runner would run them; assertions are on the API calls the server received.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kmock_server import FakeCluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROJECT = str(REPO / "dags" / "examples" / "house_prices")
STEP = "train_linear"
PIPELINE = "house_prices.train_and_compare"
RUN_ID = "manual__2026-11-21T10:00:00+00:00"
CONN_ID = "kmock_cluster"
MANAGED = {"app.kubernetes.io/managed-by": "taskspec"}


# --- the example pipeline's kubernetes DAG, built in this process ---


def connection_env(cluster: FakeCluster, deferrable: bool = False) -> dict[str, str]:
    """The cluster as an Airflow connection (``kubernetes_conn_id``), not through KUBECONFIG: the kubernetes
    client reads KUBECONFIG once, at import, and this process may have imported it already."""
    conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": cluster.kubeconfig}}
    return {
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(conn),
        "AIRFLOW__TASKSPEC__BACKEND": "kubernetes",
        "AIRFLOW__TASKSPEC__KUBERNETES_CONN_ID": CONN_ID,
        "AIRFLOW__TASKSPEC__POD_POLL_INTERVAL": "0.2",
        "AIRFLOW__TASKSPEC__DEFERRABLE": str(deferrable),
    }


def pipeline_dag(store: Path) -> Any:
    from airflow_taskspec import build, resolve
    from airflow_taskspec.backends.kubernetes import KubernetesBackend
    from airflow_taskspec.config import settings

    compilation = resolve.compile_paths([PROJECT])
    assert not compilation.errors, compilation.diagnostics()
    workflow = next(w for w in compilation.workflows if w.dag_id == PIPELINE)
    cfg = replace(settings(), artifact_store=f"file://{store}")
    assert cfg.backend == "kubernetes" and cfg.kubernetes_conn_id == CONN_ID
    return build.build_dag(workflow, KubernetesBackend(cfg))


def context(dag: Any, task_id: str, run_id: str = RUN_ID) -> dict[str, Any]:
    """What the step operator and the KubernetesPodOperator read from Airflow's context."""
    ti = SimpleNamespace(
        dag_id=dag.dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=-1,
        try_number=1,
        start_date=dt.datetime.now(dt.UTC),
        xcom_push=lambda **kw: None,
    )
    return {"run_id": run_id, "ti": ti, "dag": dag, "task": dag.get_task(task_id)}


def only_run_hangs(pod: dict[str, Any]) -> str:
    return "hang" if pod["metadata"]["labels"].get("taskspec.io/phase") == "run" else "succeed"


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[FakeCluster]:
    """Provision and collect pods succeed; the run pod stays Running until deleted."""
    deferrable = getattr(request, "param", False)
    with FakeCluster(behaviour=only_run_hangs, tick=0.1) as fake:
        for key, value in connection_env(fake, deferrable).items():
            monkeypatch.setenv(key, value)
        yield fake


MODES = pytest.mark.parametrize("cluster", [False, True], ids=["sync", "deferrable"], indirect=True)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def running_pod(cluster: FakeCluster, step: str = STEP) -> dict[str, Any] | None:
    for pod in cluster.live_objects("pods"):
        labels = pod["metadata"].get("labels", {})
        mine = labels.get("taskspec.io/task") == step and labels.get("taskspec.io/phase") == "run"
        if mine and (pod.get("status") or {}).get("phase") == "Running":
            return dict(pod)
    return None


def deletes(cluster: FakeCluster) -> list[str]:
    return [
        f"{r.resource}/{r.path.split('?')[0].rsplit('/', 1)[1]}"
        for r in cluster.requests()
        if r.method == "DELETE"
    ]


def created_pods(cluster: FakeCluster) -> list[str]:
    return [p["metadata"]["labels"]["taskspec.io/phase"] for p in cluster.created("pods")]


def claim_of_this_run() -> str:
    from airflow_taskspec.backends import k8s_names

    return k8s_names.claim_name(PIPELINE, RUN_ID, STEP, 1)


def assert_nothing_left(cluster: FakeCluster) -> None:
    assert cluster.live_objects("pods") == []
    assert cluster.live_objects("persistentvolumeclaims") == []


# --- (a) marked failed / cleared while running ---


def test_marking_a_running_step_failed_deletes_its_pod_and_pvc_at_once(cluster: FakeCluster, tmp_path: Path) -> None:
    dag = pipeline_dag(tmp_path / "store")
    step = dag.get_task(STEP)
    errors: list[BaseException] = []

    def task_process() -> None:  # the task runner's main thread, blocked in execute()
        try:
            step.execute(context(dag, STEP))
        except BaseException as exc:  # noqa: BLE001  # the pod vanishing under it ends execute() with an error
            errors.append(exc)

    worker = threading.Thread(target=task_process, daemon=True)
    worker.start()
    pod = wait_for("the run pod to be Running", lambda: running_pod(cluster))
    name = pod["metadata"]["name"]
    time.sleep(0.5)  # the operator is now polling a running pod
    before = deletes(cluster)
    assert f"pods/{name}" not in before and f"persistentvolumeclaims/{claim_of_this_run()}" not in before

    # The user marks the task failed (or clears it): the supervisor sends SIGTERM; the task runner's
    # handler calls on_kill() while execute() is still running.
    step.on_kill()
    # on_kill is synchronous: the DELETEs have arrived before it returns (the pod never ends by itself).
    assert deletes(cluster)[len(before):][:2] == [f"pods/{name}", f"persistentvolumeclaims/{claim_of_this_run()}"]
    worker.join(20)
    assert not worker.is_alive(), "execute() kept waiting for a deleted pod"
    assert errors and "taskspec: run failed: the step was stopped" in str(errors[0])
    assert created_pods(cluster) == ["provision", "run"]  # a stopped step collects nothing
    assert_nothing_left(cluster)


@pytest.mark.parametrize("cluster", [True], ids=["deferrable"], indirect=True)
def test_marking_a_deferred_step_failed_deletes_its_pod_and_pvc(cluster: FakeCluster, tmp_path: Path) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    dag = pipeline_dag(tmp_path / "store")
    step = dag.get_task(STEP)
    ctx = context(dag, STEP)
    with pytest.raises(TaskDeferred) as provision:  # the worker's part ends: the trigger watches the pod
        step.execute(ctx)
    event = asyncio.run(first_event(provision.value.trigger))
    assert event["status"] == "success"
    with pytest.raises(TaskDeferred) as run:  # provision finished, the run pod started: deferred again
        step.resume_execution(provision.value.method_name, {"event": event}, ctx)
    wait_for("the run pod to be Running", lambda: running_pod(cluster))
    assert f"persistentvolumeclaims/{claim_of_this_run()}" not in deletes(cluster)

    # The user marks the deferred task failed: the triggerer cancels the trigger and calls its on_kill().
    asyncio.run(run.value.trigger.on_kill())

    assert created_pods(cluster) == ["provision", "run"]
    assert f"persistentvolumeclaims/{claim_of_this_run()}" in deletes(cluster)
    assert_nothing_left(cluster)


async def first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


# --- (b) the worker dies: no on_kill; the run's teardown deletes what is left ---


def create(cluster: FakeCluster, kind: str, name: str, labels: dict[str, str], age: dt.timedelta) -> None:
    """An object as another run, task or tool left it (kmock keeps the creationTimestamp it is given)."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(cluster.kubeconfig))
    created = (dt.datetime.now(dt.UTC) - age).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = {"name": name, "labels": labels, "creationTimestamp": created}
    if kind == "pod":
        spec: dict[str, Any] = {"containers": [{"name": "base", "image": "x"}], "restartPolicy": "Never"}
        api.create_namespaced_pod(
            "default", {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
        )
    else:
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        api.create_namespaced_persistent_volume_claim(
            "default",
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec},
        )


@MODES
def test_a_dead_worker_leaves_objects_that_the_run_teardown_deletes(cluster: FakeCluster, tmp_path: Path) -> None:
    from airflow_taskspec.backends import k8s_names

    deferrable = os.environ["AIRFLOW__TASKSPEC__DEFERRABLE"] == "True"
    dag = pipeline_dag(tmp_path / "store")
    # The step in its own process, killed with SIGKILL: no on_kill, no cleanup. Sync: while the run pod
    # runs. Deferrable: once the provision pod exists, before the deferral reached the triggerer.
    log = tmp_path / "task.log"
    with log.open("w") as out:
        task = subprocess.Popen(
            [sys.executable, __file__, str(tmp_path / "store")],
            env={**os.environ},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        if deferrable:
            wait_for("the deferral", lambda: "DEFERRED" in log.read_text(), timeout=30)
        else:
            wait_for("the run pod to be Running", lambda: running_pod(cluster), timeout=30)
        time.sleep(0.5)
    finally:
        task.send_signal(signal.SIGKILL)
        task.wait(10)
    assert task.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    left_pods = cluster.live_objects("pods")
    assert [p["metadata"]["labels"]["taskspec.io/phase"] for p in left_pods] == (
        ["provision"] if deferrable else ["run"]
    )
    assert [c["metadata"]["name"] for c in cluster.live_objects("persistentvolumeclaims")] == [claim_of_this_run()]
    assert k8s_names.matches(left_pods[0]["metadata"]["labels"], k8s_names.run_labels(PIPELINE, RUN_ID, STEP))
    before = len(deletes(cluster))

    # Neighbours: another step of this run (also this run's: deleted), another run and another DAG (kept).
    # kmock ignores label selectors: our code filters.
    create(cluster, "pod", "other-step", k8s_names.run_labels(PIPELINE, RUN_ID, "train_knn"), dt.timedelta())
    create(cluster, "pod", "other-run", k8s_names.run_labels(PIPELINE, "scheduled__other", STEP), dt.timedelta())
    create(cluster, "pvc", "other-dag", k8s_names.run_labels("house_prices.compare", RUN_ID, STEP), dt.timedelta())

    # Airflow marks the step failed (no heartbeat); at the end of the run its teardown runs, whatever failed.
    dag.get_task("taskspec_teardown").execute(context(dag, "taskspec_teardown"))
    assert sorted(deletes(cluster)[before:]) == sorted([
        f"pods/{left_pods[0]['metadata']['name']}", "pods/other-step",
        f"persistentvolumeclaims/{claim_of_this_run()}",
    ])
    assert [p["metadata"]["name"] for p in cluster.live_objects("pods")] == ["other-run"]
    assert [c["metadata"]["name"] for c in cluster.live_objects("persistentvolumeclaims")] == ["other-dag"]


# --- (c) taskspec gc ---


def gc(cluster: FakeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "taskspec"), "gc", "--older-than", "6h", *args],
        env={**os.environ, **connection_env(cluster)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_gc_deletes_old_taskspec_pods_and_pvcs_and_keeps_young_and_foreign_ones(cluster: FakeCluster) -> None:
    hours = dt.timedelta(hours=1)
    create(cluster, "pod", "old-pod", {**MANAGED, "taskspec.io/phase": "run"}, 7 * hours)
    create(cluster, "pod", "young-pod", dict(MANAGED), 1 * hours)
    create(cluster, "pod", "foreign-pod", {"app.kubernetes.io/managed-by": "helm"}, 9 * hours)
    create(cluster, "pvc", "old-pvc", dict(MANAGED), 30 * hours)
    create(cluster, "pvc", "young-pvc", dict(MANAGED), 5 * hours)
    create(cluster, "pvc", "foreign-pvc", {}, 30 * hours)

    dry = gc(cluster, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert deletes(cluster) == []
    assert [line.split(" (")[0] for line in dry.stdout.splitlines()] == [
        "would delete pod default/old-pod",
        "would delete pvc default/old-pvc",
    ]

    done = gc(cluster)
    assert done.returncode == 0, done.stderr[-3000:]
    assert deletes(cluster) == ["pods/old-pod", "persistentvolumeclaims/old-pvc"]
    assert sorted(p["metadata"]["name"] for p in cluster.live_objects("pods")) == ["foreign-pod", "young-pod"]
    assert sorted(p["metadata"]["name"] for p in cluster.live_objects("persistentvolumeclaims")) == [
        "foreign-pvc",
        "young-pvc",
    ]

    # Another namespace: nothing of ours there.
    other = gc(cluster, "--namespace", "elsewhere")
    assert other.returncode == 0 and other.stdout == "", other.stderr[-3000:]
    assert len(deletes(cluster)) == 2


# --- the step's process for (b) ---


def _step_process(store: str) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    dag = pipeline_dag(Path(store))
    try:
        dag.get_task(STEP).execute(context(dag, STEP))
    except TaskDeferred:
        print("DEFERRED", flush=True)  # the handover to the triggerer would start here; the kill comes first
        time.sleep(600)


if __name__ == "__main__":
    _step_process(sys.argv[1])
