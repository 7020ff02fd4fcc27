"""The kubernetes backend end to end against a fake API server (kmock over HTTP): `dag.test()` of the example
DAGs, sync and deferrable; assertions on the API calls the server received. One Airflow task instance per
step (plus the run's teardown); each step's operator creates one PVC and at most three pods, fewer when a
phase has nothing to do; every failure path ends with nothing left on the server."""

from __future__ import annotations

import shutil
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
TEARDOWN = "taskspec_teardown"
STEPS = ("prepare_data", "train_linear", "train_knn", "compare")
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])


def only_run(behaviour: str) -> Callable[[dict[str, Any]], str]:
    """Provision and collect pods succeed; the run pod does ``behaviour``."""
    return lambda pod: behaviour if pod["metadata"]["labels"].get(PHASE) == "run" else "succeed"


def dag_test(
    cluster: FakeCluster, dag_id: str, tmp_path: Path, *, deferrable: bool = False, folder: str = DAGS,
    **options: str,
) -> tuple[dict[str, str], str]:
    env = {
        "KUBECONFIG": cluster.kubeconfig,
        "AIRFLOW__TASKSPEC__BACKEND": "kubernetes",
        "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{tmp_path}/store",
        "AIRFLOW__TASKSPEC__POD_POLL_INTERVAL": "0.2",
        "AIRFLOW__TASKSPEC__DEFERRABLE": str(deferrable),
        **options,
    }
    return run_dag_test(dag_id, folder, env)


def pods_per_step(cluster: FakeCluster) -> dict[str, list[str]]:
    """The phases of the pods the server was asked to create, per step, in the order it received them."""
    found: dict[str, list[str]] = {}
    for pod in cluster.created("pods"):
        labels = pod["metadata"]["labels"]
        found.setdefault(labels["taskspec.io/task"], []).append(labels[PHASE])
    return found


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


@MODES
def test_the_example_pipeline_succeeds(airflow_db: Path, tmp_path: Path, deferrable: bool) -> None:
    with FakeCluster() as cluster:
        states, output = dag_test(cluster, PIPELINE, tmp_path, deferrable=deferrable)
        assert states == {**{s: "success" for s in STEPS}, TEARDOWN: "success"}, output[-5000:]
        check_pipeline_calls(cluster)
        assert_no_leftovers(cluster)
    # Each step's log: its phases as folded sections, each followed by its duration.
    for phase in ("workspace", "provision", "run", "collect", "cleanup"):
        assert output.count(f"::group::{phase}") >= 4, phase
        assert output.count(f"taskspec: {phase} done in ") == 4, phase
    # The worker uploaded the project once per content hash, for the provision pods to download.
    assert list((tmp_path / "store" / "projects").glob("*/manifest.json"))  # committed


@MODES
def test_a_failing_run_is_still_collected_and_cleaned_up(
    airflow_db: Path, tmp_path: Path, deferrable: bool
) -> None:
    with FakeCluster(only_run("fail:3")) as cluster:
        states, output = dag_test(cluster, HELLO, tmp_path, deferrable=deferrable)
        assert pods_per_step(cluster) == {"daily_greeting": ["provision", "run", "collect"]}  # collect ran after
        assert_no_leftovers(cluster)
    assert states == {"daily_greeting": "failed", TEARDOWN: "success"}  # the step fails all the same
    assert "taskspec: run failed: the command exited with code 3" in output


@MODES
def test_a_timeout_deletes_the_pod(airflow_db: Path, tmp_path: Path, deferrable: bool) -> None:
    with FakeCluster(only_run("hang")) as cluster:
        # AME has no timeout key: the harness gives every step a 40 s execution_timeout (the run pod hangs;
        # the phases before it must fit in it on a busy machine).
        states, output = dag_test(
            cluster, HELLO, tmp_path, deferrable=deferrable, TASKSPEC_TEST_RUN_TIMEOUT="40"
        )
        run_pod = next(
            p["metadata"]["name"] for p in cluster.created("pods") if p["metadata"]["labels"][PHASE] == "run"
        )
        assert run_pod in cluster.deleted("pods")
        # The partial outputs of a command that ran out of time are collected too.
        assert pods_per_step(cluster) == {"daily_greeting": ["provision", "run", "collect"]}
        assert_no_leftovers(cluster)
    assert states == {"daily_greeting": "failed", TEARDOWN: "success"}
    assert "taskspec: run failed: deadline exceeded" in output
    assert "AirflowTaskTimeout" in output  # the task ends as a timeout, not as a plain failure


@MODES
def test_image_pull_backoff_fails_fast(airflow_db: Path, tmp_path: Path, deferrable: bool) -> None:
    with FakeCluster(only_run("imagepull")) as cluster:
        started = time.monotonic()
        states, output = dag_test(cluster, HELLO, tmp_path, deferrable=deferrable,
                                  AIRFLOW__TASKSPEC__STARTUP_TIMEOUT_SECONDS="600")
        took = time.monotonic() - started
        assert_no_leftovers(cluster)
    assert states["daily_greeting"] == "failed"
    assert took < 120, "an image that cannot be pulled must not wait for the startup timeout"
    line = next(line for line in output.splitlines() if "taskspec: run failed:" in line)
    assert "cannot be pulled (ImagePullBackOff" in line


@MODES
def test_unschedulable_fails_after_the_startup_timeout(airflow_db: Path, tmp_path: Path, deferrable: bool) -> None:
    with FakeCluster(only_run("unschedulable")) as cluster:
        states, output = dag_test(cluster, HELLO, tmp_path, deferrable=deferrable,
                                  AIRFLOW__TASKSPEC__STARTUP_TIMEOUT_SECONDS="2")
        assert_no_leftovers(cluster)
    assert states["daily_greeting"] == "failed"
    assert "could not be scheduled within 2s (Unschedulable: 0/1 nodes are available" in output


@MODES
def test_oom_killed_is_named(airflow_db: Path, tmp_path: Path, deferrable: bool) -> None:
    with FakeCluster(only_run("oom")) as cluster:
        states, output = dag_test(cluster, HELLO, tmp_path, deferrable=deferrable)
        assert_no_leftovers(cluster)
    assert states["daily_greeting"] == "failed"
    assert "ran out of memory and was killed (OOMKilled)" in output


IMAGE_ONLY_DAG = """# A DAG file (airflow, dag) building one step from the IR: its image carries the project, nothing is saved.
from airflow_taskspec import build, ir
from airflow_taskspec.backends import for_settings
from airflow_taskspec.config import settings

step = ir.TaskRun(name="alone", recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, "echo hi"), source=ir.ProjectSource(),
                  image="ghcr.io/me/carries-everything:1")
dag = build.build_dag(ir.Workflow(dag_id="image.only", title="image only", origin=ir.Origin(__file__), source_text="",
                                  graph=step), for_settings(settings()))
"""

NOTHING_TO_SAVE = """name: quiet
tasks:
  - name: no_outputs
    executor: !custom
      command: echo nothing to keep
"""


@MODES
def test_a_phase_with_nothing_to_do_spawns_no_pod(airflow_db: Path, tmp_path: Path, deferrable: bool) -> None:
    folder = tmp_path / "dags"
    (folder / "quiet").mkdir(parents=True)
    (folder / "quiet" / "ame.yaml").write_text(NOTHING_TO_SAVE)
    (folder / "image_only.py").write_text(IMAGE_ONLY_DAG)
    shutil.copy(REPO / "dags" / "taskspec_dags.py", folder / "taskspec_dags.py")
    with FakeCluster() as cluster:
        states, output = dag_test(cluster, "image.only", tmp_path, deferrable=deferrable, folder=str(folder))
        assert states == {"alone": "success", TEARDOWN: "success"}, output[-4000:]
        assert pods_per_step(cluster) == {"alone": ["run"]}  # no project to stage, nothing to collect
        assert len(cluster.created("persistentvolumeclaims")) == 1
        assert_no_leftovers(cluster)
    with FakeCluster() as cluster:
        states, output = dag_test(cluster, "quiet.no_outputs", tmp_path, deferrable=deferrable, folder=str(folder))
        assert states == {"no_outputs": "success", TEARDOWN: "success"}, output[-4000:]
        assert pods_per_step(cluster) == {"no_outputs": ["provision", "run"]}  # nothing to collect
        assert_no_leftovers(cluster)


SECRETIVE = """\
name: secretive
tasks:
  - name: reads
    secrets:
      - !ame
        key: db_login
        injectAs: DB_LOGIN
    executor: !custom
      command: echo "$DB_LOGIN" | wc -c
"""


def test_the_pod_the_server_receives_holds_a_secret_key_ref_never_the_value(
    airflow_db: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "dags"
    (folder / "secretive").mkdir(parents=True)
    (folder / "secretive" / "ame.yaml").write_text(SECRETIVE)
    shutil.copy(REPO / "dags" / "taskspec_dags.py", folder / "taskspec_dags.py")
    value = "plain-value-0d3b77"  # there for the local backend to read; the pod must not carry it
    with FakeCluster() as cluster:
        states, output = dag_test(cluster, "secretive.reads", tmp_path, folder=str(folder),
                                  AIRFLOW_VAR_DB_LOGIN=value)
        assert states == {"reads": "success", TEARDOWN: "success"}, output[-4000:]
        (run_pod,) = [p for p in cluster.created("pods") if p["metadata"]["labels"][PHASE] == "run"]
        env = {e["name"]: e for e in run_pod["spec"]["containers"][0]["env"]}
        assert env["DB_LOGIN"] == {"name": "DB_LOGIN",
                                   "valueFrom": {"secretKeyRef": {"name": "db-login", "key": "value"}}}
        assert value not in repr(cluster.created("pods")) and value not in output
