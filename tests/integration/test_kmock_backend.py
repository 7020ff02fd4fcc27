"""The kubernetes backend end to end against a fake API server (kmock over HTTP): `dag.test()` of the example
DAGs, sync and deferrable; assertions on the API calls the server received."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kmock_server import FakeCluster, run_dag_test

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAGS = str(REPO / "dags")
PIPELINE = "house_prices.train_and_compare"
HELLO = "hello.daily_greeting"
PHASE = "taskspec.io/phase"


def only_run(behaviour: str) -> Callable[[dict[str, Any]], str]:
    """Provision and collect pods succeed; the run pod does ``behaviour``."""
    return lambda pod: behaviour if pod["metadata"]["labels"].get(PHASE) == "run" else "succeed"


def dag_test(
    cluster: FakeCluster, dag_id: str, tmp_path: Path, *, deferrable: bool = False, **options: str
) -> tuple[dict[str, str], str]:
    env = {
        "KUBECONFIG": cluster.kubeconfig,
        "AIRFLOW__TASKSPEC__BACKEND": "kubernetes",
        "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{tmp_path}/store",
        "AIRFLOW__TASKSPEC__POD_POLL_INTERVAL": "0.2",
        "AIRFLOW__TASKSPEC__DEFERRABLE": str(deferrable),
        **options,
    }
    return run_dag_test(dag_id, DAGS, env)


def assert_no_leftovers(cluster: FakeCluster) -> None:
    created_claims = [b["metadata"]["name"] for b in cluster.created("persistentvolumeclaims")]
    assert sorted(cluster.deleted("persistentvolumeclaims")) == sorted(created_claims)
    assert cluster.live_objects("pods") == []
    assert cluster.live_objects("persistentvolumeclaims") == []


def check_pipeline_calls(cluster: FakeCluster) -> None:
    claims = {b["metadata"]["name"]: b for b in cluster.created("persistentvolumeclaims")}
    pods = cluster.created("pods")
    assert len(claims) == 4 and len(pods) == 12
    by_task: dict[str, list[str]] = {}
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "taskspec"
        assert labels["taskspec.io/dag-id"] == PIPELINE
        assert pod["spec"]["securityContext"]["fsGroup"] == 1000
        assert pod["spec"]["restartPolicy"] == "Never"
        claim = pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
        assert claims[claim]["metadata"]["labels"]["taskspec.io/task"] == labels["taskspec.io/task"]
        by_task.setdefault(labels["taskspec.io/task"], []).append(labels[PHASE])
    assert by_task == {
        t: ["provision", "run", "collect"] for t in ("prepare_data", "train_linear", "train_knn", "compare")
    }
    run_pod = next(
        p
        for p in pods
        if p["metadata"]["labels"]["taskspec.io/task"] == "train_linear"
        and p["metadata"]["labels"][PHASE] == "run"
    )
    env = [e["name"] for e in run_pod["spec"]["containers"][0]["env"]]
    assert env[:5] == [
        "TASKSPEC_WORKSPACE",
        "TASKSPEC_DAG_ID",
        "TASKSPEC_RUN_ID",
        "TASKSPEC_TASK",
        "TASKSPEC_ARTIFACT_URL",
    ] and env[5:] == ["RIDGE_ALPHA"]
    # The first step's provision pod gets no earlier outputs; the last step's gets all three.
    provision = {
        p["metadata"]["labels"]["taskspec.io/task"]: p["spec"]["containers"][0]["command"]
        for p in pods
        if p["metadata"]["labels"][PHASE] == "provision"
    }
    assert '"upstream_outputs": []' in provision["prepare_data"][5]
    assert provision["compare"][5].count("/handoff") == 3


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_the_example_pipeline_succeeds(airflow_db: Path, tmp_path: Path, deferrable: bool) -> None:
    with FakeCluster() as cluster:
        states, output = dag_test(cluster, PIPELINE, tmp_path, deferrable=deferrable)
        assert set(states.values()) == {"success"}, output[-5000:]
        assert len(states) == 20
        check_pipeline_calls(cluster)
        assert_no_leftovers(cluster)
    # The worker uploaded the project once per content hash, for the provision pods to download.
    assert list((tmp_path / "store" / "projects").glob("*/manifest.json"))  # committed


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_failing_run_is_still_collected_and_cleaned_up(
    airflow_db: Path, tmp_path: Path, deferrable: bool
) -> None:
    with FakeCluster(only_run("fail:3")) as cluster:
        states, output = dag_test(cluster, HELLO, tmp_path, deferrable=deferrable)
        phases = [p["metadata"]["labels"][PHASE] for p in cluster.created("pods")]
        assert phases == ["provision", "run", "collect"]  # collect ran after the failed run
        assert_no_leftovers(cluster)
    prefix = "daily_greeting."
    assert states[prefix + "run"] == "failed"
    assert states[prefix + "collect"] == "failed"  # the group still fails
    assert states[prefix + "cleanup"] == "success"
    assert "taskspec: run failed: the command exited with code 3" in output


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_timeout_deletes_the_pod(airflow_db: Path, tmp_path: Path, deferrable: bool) -> None:
    with FakeCluster(only_run("hang")) as cluster:
        # AME has no timeout key: the harness gives the run steps a 3 s execution_timeout.
        states, output = dag_test(
            cluster, HELLO, tmp_path, deferrable=deferrable, TASKSPEC_TEST_RUN_TIMEOUT="3"
        )
        run_pod = next(
            p["metadata"]["name"] for p in cluster.created("pods") if p["metadata"]["labels"][PHASE] == "run"
        )
        assert run_pod in cluster.deleted("pods")
        assert_no_leftovers(cluster)
    assert states["daily_greeting.run"] == "failed"
    assert "taskspec: run failed: deadline exceeded" in output


def test_image_pull_backoff_fails_fast(airflow_db: Path, tmp_path: Path) -> None:
    with FakeCluster(only_run("imagepull")) as cluster:
        started = time.monotonic()
        states, output = dag_test(cluster, HELLO, tmp_path, AIRFLOW__TASKSPEC__STARTUP_TIMEOUT_SECONDS="600")
        took = time.monotonic() - started
        assert_no_leftovers(cluster)
    assert states["daily_greeting.run"] == "failed"
    assert took < 120, "an image that cannot be pulled must not wait for the startup timeout"
    line = next(line for line in output.splitlines() if "taskspec: run failed:" in line)
    assert "cannot be pulled (ImagePullBackOff" in line


def test_unschedulable_fails_after_the_startup_timeout(airflow_db: Path, tmp_path: Path) -> None:
    with FakeCluster(only_run("unschedulable")) as cluster:
        states, output = dag_test(cluster, HELLO, tmp_path, AIRFLOW__TASKSPEC__STARTUP_TIMEOUT_SECONDS="2")
        assert_no_leftovers(cluster)
    assert states["daily_greeting.run"] == "failed"
    assert "could not be scheduled within 2s (Unschedulable: 0/1 nodes are available" in output


def test_oom_killed_is_named(airflow_db: Path, tmp_path: Path) -> None:
    with FakeCluster(only_run("oom")) as cluster:
        states, output = dag_test(cluster, HELLO, tmp_path)
        assert_no_leftovers(cluster)
    assert states["daily_greeting.run"] == "failed"
    assert "ran out of memory and was killed (OOMKilled)" in output
