"""No leaks on the paths a `dag.test()` cannot show, against a fake API server (kmock over HTTP):

- a user marks the run task failed (or clears it) while its pod runs: Airflow calls ``on_kill()`` in the task
  process, which deletes the pod; the group's cleanup teardown then deletes the PVC;
- the worker dies (SIGKILL, no ``on_kill``): the pod is left running; the cleanup teardown finds it by label
  and deletes it with the PVC, and leaves other runs' and other tasks' objects alone;
- ``taskspec gc --older-than 6h`` deletes old taskspec pods and PVCs and keeps young and foreign ones.

The operators of the example pipeline's kubernetes DAG run in this process (or a child process that gets
killed), as Airflow's task runner would run them; assertions are on the API calls the server received.
"""

from __future__ import annotations

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


def connection_env(cluster: FakeCluster) -> dict[str, str]:
    """The cluster as an Airflow connection (``kubernetes_conn_id``), not through KUBECONFIG: the kubernetes
    client reads KUBECONFIG once, at import, and this process may have imported it already."""
    conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": cluster.kubeconfig}}
    return {
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(conn),
        "AIRFLOW__TASKSPEC__BACKEND": "kubernetes",
        "AIRFLOW__TASKSPEC__KUBERNETES_CONN_ID": CONN_ID,
        "AIRFLOW__TASKSPEC__POD_POLL_INTERVAL": "0.2",
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
    """What the KubernetesPodOperator reads from Airflow's context (pod labels, XCom of the pod name)."""
    ti = SimpleNamespace(
        dag_id=dag.dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=-1,
        try_number=1,
        xcom_push=lambda **kw: None,
    )
    return {"run_id": run_id, "ti": ti, "dag": dag, "task": dag.get_task(task_id)}


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    """Every pod stays Running until deleted."""
    with FakeCluster(behaviour=lambda pod: "hang", tick=0.1) as fake:
        for key, value in connection_env(fake).items():
            monkeypatch.setenv(key, value)
        yield fake


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


def claim_of_this_run() -> str:
    from airflow_taskspec.backends import k8s_names

    return k8s_names.claim_name(PIPELINE, RUN_ID, STEP)


# --- (a) marked failed / cleared while running: on_kill ---


def test_marking_the_run_failed_deletes_its_pod_and_cleanup_deletes_the_pvc(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    dag = pipeline_dag(tmp_path / "store")
    claim = dag.get_task(f"{STEP}.workspace").execute(context(dag, f"{STEP}.workspace"))
    assert claim == claim_of_this_run()

    run = dag.get_task(f"{STEP}.run")
    errors: list[BaseException] = []

    def task_process() -> None:  # the task runner's main thread, blocked in execute()
        try:
            run.execute(context(dag, run.task_id))
        except BaseException as exc:  # noqa: BLE001  # the pod vanishing under it ends execute() with an error
            errors.append(exc)

    worker = threading.Thread(target=task_process, daemon=True)
    worker.start()
    pod = wait_for("the run pod to be Running", lambda: running_pod(cluster))
    name = pod["metadata"]["name"]
    time.sleep(0.5)  # the operator is now polling a running pod; nothing has deleted anything
    assert deletes(cluster) == []

    # The user marks the task failed (or clears it): the supervisor sends SIGTERM; the task runner's
    # handler calls on_kill() while execute() is still running.
    run.on_kill()
    # on_kill is synchronous: the DELETE has arrived before it returns (the polling loop cannot have sent it,
    # the pod never finishes by itself).
    assert deletes(cluster) == [f"pods/{name}"]
    worker.join(20)
    assert not worker.is_alive(), "execute() kept waiting for a deleted pod"
    assert errors, "execute() returned as if the deleted pod had succeeded"

    # The group's cleanup teardown runs next, whatever the run task's state.
    dag.get_task(f"{STEP}.cleanup").execute(context(dag, f"{STEP}.cleanup"))
    assert f"persistentvolumeclaims/{claim}" in deletes(cluster)
    assert cluster.live_objects("pods") == []
    assert cluster.live_objects("persistentvolumeclaims") == []


# --- (b) the worker dies: no on_kill, the teardown deletes what is left ---


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


def test_a_dead_worker_leaves_a_running_pod_that_the_cleanup_teardown_deletes(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    from airflow_taskspec.backends import k8s_names

    dag = pipeline_dag(tmp_path / "store")
    claim = dag.get_task(f"{STEP}.workspace").execute(context(dag, f"{STEP}.workspace"))
    # The run task in its own process, killed with SIGKILL once its pod runs: no on_kill, no cleanup.
    log = tmp_path / "task.log"
    with log.open("w") as out:
        task = subprocess.Popen(
            [sys.executable, __file__, str(tmp_path / "store")],
            env={**os.environ, **connection_env(cluster)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        pod = wait_for("the run pod to be Running", lambda: running_pod(cluster), timeout=25)
        time.sleep(0.5)
    finally:
        task.send_signal(signal.SIGKILL)
        task.wait(10)
    assert task.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    name = pod["metadata"]["name"]
    labels = pod["metadata"]["labels"]
    assert k8s_names.matches(labels, k8s_names.run_labels(PIPELINE, RUN_ID, STEP)), labels
    time.sleep(0.5)
    assert deletes(cluster) == []  # the pod is left behind, still running
    assert running_pod(cluster)["metadata"]["name"] == name  # type: ignore[index]

    # Neighbours the teardown must not touch (kmock ignores label selectors: our code filters). Created only
    # now: the KubernetesPodOperator's own look-up by label would find them on kmock, not on a real server.
    create(
        cluster, "pod", "other-run", k8s_names.run_labels(PIPELINE, "scheduled__other", STEP), dt.timedelta()
    )
    create(cluster, "pod", "other-task", k8s_names.run_labels(PIPELINE, RUN_ID, "train_knn"), dt.timedelta())

    # Airflow marks the run task failed (no heartbeat); the teardown runs as for any other failure.
    dag.get_task(f"{STEP}.cleanup").execute(context(dag, f"{STEP}.cleanup"))
    assert deletes(cluster) == [f"pods/{name}", f"persistentvolumeclaims/{claim}"]
    assert sorted(p["metadata"]["name"] for p in cluster.live_objects("pods")) == ["other-run", "other-task"]
    assert cluster.live_objects("persistentvolumeclaims") == []


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


# --- the run task's process for (b) ---


def _run_task_process(store: str) -> None:
    dag = pipeline_dag(Path(store))
    dag.get_task(f"{STEP}.run").execute(context(dag, f"{STEP}.run"))


if __name__ == "__main__":
    _run_task_process(sys.argv[1])
