"""A PEACH organisation loop on the kubernetes backend against the fake API server (kmock), through the real
step operators (`airflow dags test`, SQLite): one iteration spawns every task's pods, task after task in the
loop's order; a task whose pod fails does not stop the next one and the run ends failed; the notebook's result,
which the run pod prints as its last log line, becomes the step's XCom ``return_value`` and the notebook's
version XCom ``notebook_version``, as on the local backend; nothing is left on the server."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from airflow_taskspec import recipes
from airflow_taskspec.runtime import notebook
from kmock_server import FakeCluster

from tests.conftest import EXAMPLES, LOADER
from tests.integration.airflow_cli import dags_test

pytestmark = pytest.mark.integration

DAG = "peach.zzebu"
LOOP = ("rank_headlines", "word_stats")  # the organisation loop's tasks, in the order of peach.yaml
PHASE = "taskspec.io/phase"
TASK = "taskspec.io/task"
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])

# What each task's run pod prints: some output, then the script's result line (recipes.notebook_script).
RESULTS: dict[str, Any] = {
    "rank_headlines": {"top": ["From the fake pod", "Second"], "side_effect_ran": False},
    "word_stats": {"words": [["fake", 7]], "full_notebook_ran": True},
}
ERROR = {"status": "error",
         "error": "notebooks/headlines.ipynb: rank_headlines() failed\nTraceback (most recent call last):\n  ..."}


def _label(pod: dict[str, Any], key: str) -> str:
    return str(pod["metadata"]["labels"].get(key, ""))


def _log(record_of: dict[str, dict[str, Any]]) -> Any:
    def log(pod: dict[str, Any]) -> str:
        task = _label(pod, TASK)
        if _label(pod, PHASE) != "run" or task not in record_of:
            return "filer: done\n"
        return f"working on {task}\n{recipes.RESULT_MARKER}{json.dumps(record_of[task])}\n"
    return log


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(EXAMPLES / "peach_demo", folder / "peach_demo")
    shutil.copy(LOADER, folder / LOADER.name)
    return folder


def _run(cluster: FakeCluster, tmp_path: Path, airflow_db: Path, *, deferrable: bool = False) -> Any:
    return dags_test(DAG, _folder(tmp_path), airflow_db,
                     KUBECONFIG=cluster.kubeconfig,
                     AIRFLOW__TASKSPEC__BACKEND="kubernetes",
                     AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{tmp_path}/store",
                     AIRFLOW__TASKSPEC__POD_POLL_INTERVAL="0.2",
                     AIRFLOW__TASKSPEC__DEFERRABLE=str(deferrable))


def _latest_run(home: Path) -> str:
    with sqlite3.connect(home / "airflow.db") as db:
        return str(db.execute("select run_id from dag_run where dag_id = ? order by id desc limit 1",
                              (DAG,)).fetchone()[0])


def _xcom(home: Path, run_id: str, key: str) -> dict[str, Any]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute("select task_id, value from xcom where dag_id = ? and run_id = ? and key = ?",
                          (DAG, run_id, key)).fetchall()
    return {task: json.loads(value) for task, value in rows if task in LOOP}  # not the teardown's list


def _states(home: Path, run_id: str) -> tuple[dict[str, str], str]:
    with sqlite3.connect(home / "airflow.db") as db:
        tasks = dict(db.execute("select task_id, state from task_instance where dag_id = ? and run_id = ?",
                                (DAG, run_id)).fetchall())
        run = db.execute("select state from dag_run where run_id = ?", (run_id,)).fetchone()[0]
    return tasks, run


def _pod_order(cluster: FakeCluster) -> list[tuple[str, str]]:
    """(task, phase) of every pod the server was asked to create, in the order it received them."""
    return [(_label(p, TASK), _label(p, PHASE)) for p in cluster.created("pods")]


def _assert_nothing_left(cluster: FakeCluster) -> None:
    claims = [b["metadata"]["name"] for b in cluster.created("persistentvolumeclaims")]
    assert len(claims) == len(LOOP)  # one workspace per task of the loop
    assert sorted(cluster.deleted("persistentvolumeclaims")) == sorted(claims)
    assert cluster.live_objects("pods") == []
    assert cluster.live_objects("persistentvolumeclaims") == []


@MODES
def test_one_iteration_runs_every_task_in_order_with_its_result_and_version_in_xcom(
    airflow_db: Path, tmp_path: Path, deferrable: bool
) -> None:
    records = {task: {"status": "ok", "result": value} for task, value in RESULTS.items()}
    with FakeCluster(logs=_log(records)) as cluster:
        result = _run(cluster, tmp_path, airflow_db, deferrable=deferrable)
        order = _pod_order(cluster)
        _assert_nothing_left(cluster)
    assert result.returncode == 0, result.output[-5000:]
    # Every task's pods, all of one task before any of the next: provision (the project), then run.
    assert order == [(task, phase) for task in LOOP for phase in ("provision", "run")], order
    run_id = _latest_run(airflow_db)
    states, run_state = _states(airflow_db, run_id)
    assert states == {**{t: "success" for t in LOOP}, "loop_result": "success", "taskspec_teardown": "success"}
    assert run_state == "success"
    # The XCom is exactly what the run pod's log printed, and the version is the notebook file's.
    assert _xcom(airflow_db, run_id, "return_value") == RESULTS
    demo = tmp_path / "dags" / "peach_demo" / "newsroom" / "notebooks"  # not a git checkout: content hashes
    assert _xcom(airflow_db, run_id, "notebook_version") == {
        "rank_headlines": notebook.version(str(demo / "headlines.ipynb")),
        "word_stats": notebook.version(str(demo / "word_stats.ipynb")),
    }


def test_a_failing_task_does_not_stop_the_next_and_the_run_ends_failed(airflow_db: Path, tmp_path: Path) -> None:
    records = {"rank_headlines": ERROR, "word_stats": {"status": "ok", "result": RESULTS["word_stats"]}}

    def behaviour(pod: dict[str, Any]) -> str:
        return "fail:1" if (_label(pod, TASK), _label(pod, PHASE)) == ("rank_headlines", "run") else "succeed"

    with FakeCluster(behaviour, logs=_log(records)) as cluster:
        result = _run(cluster, tmp_path, airflow_db)
        order = _pod_order(cluster)
        _assert_nothing_left(cluster)
    assert result.returncode != 0
    assert order == [(task, phase) for task in LOOP for phase in ("provision", "run")], order
    run_id = _latest_run(airflow_db)
    states, run_state = _states(airflow_db, run_id)
    assert states == {"rank_headlines": "failed", "word_stats": "success", "loop_result": "upstream_failed",
                      "taskspec_teardown": "success"}
    assert run_state == "failed"
    # The failed task's line is the notebook's own error (as on the local backend); the next task's result
    # reaches XCom, the failed one has none, and both record the version they ran.
    assert "taskspec: run failed: notebooks/headlines.ipynb: rank_headlines() failed" in result.output
    assert _xcom(airflow_db, run_id, "return_value") == {"word_stats": RESULTS["word_stats"]}
    assert set(_xcom(airflow_db, run_id, "notebook_version")) == set(LOOP)
