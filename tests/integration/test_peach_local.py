"""PEACH loops through real Airflow (`airflow dags test`, SQLite, local backend): one iteration runs every task
in order with its result in XCom, the second installs nothing, a task over its timeout fails and the next still
runs (the run ends failed), and `--conf` overrides args."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, LOADER
from tests.integration.airflow_cli import dags_test
from tests.notebooks import write_notebook

pytestmark = pytest.mark.integration


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(EXAMPLES / "peach_demo", folder / "peach_demo")
    shutil.copy(LOADER, folder / LOADER.name)
    return folder


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {"AIRFLOW__TASKSPEC__ENV_CACHE_DIR": str(tmp_path / "envs"),
            "AIRFLOW__TASKSPEC__WORKSPACE_ROOT": str(tmp_path / "ws"),
            "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{tmp_path / 'store'}", **more}


def _latest_run(home: Path, dag_id: str) -> str:
    with sqlite3.connect(home / "airflow.db") as db:
        return str(db.execute("select run_id from dag_run where dag_id = ? order by id desc limit 1",
                              (dag_id,)).fetchone()[0])


def _xcom(home: Path, dag_id: str, run_id: str, key: str = "return_value") -> dict[str, object]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute("select task_id, value from xcom where dag_id = ? and run_id = ? and key = ?",
                          (dag_id, run_id, key)).fetchall()
    return {task: json.loads(value) for task, value in rows}


def _states(home: Path, dag_id: str, run_id: str) -> dict[str, tuple[str, str | None, str | None]]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute("select task_id, state, start_date, end_date from task_instance where dag_id = ? and "
                          "run_id = ?", (dag_id, run_id)).fetchall()
    return {task: (state, start, end) for task, state, start, end in rows}


def test_one_iteration_runs_every_task_in_order_and_the_second_installs_nothing(
    airflow_db: Path, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    first = dags_test("peach.zzebu", folder, airflow_db, **_env(tmp_path))
    assert first.returncode == 0, first.output[-4000:]
    run_id = _latest_run(airflow_db, "peach.zzebu")
    results = _xcom(airflow_db, "peach.zzebu", run_id)
    assert results["rank_headlines"] == {"top": ["Election results in the capital", "Storm closes local schools"],
                                             "side_effect_ran": False}
    assert results["word_stats"] == {"words": [["election", 2], ["storm", 1], ["closes", 1]],
                                         "full_notebook_ran": True}
    versions = _xcom(airflow_db, "peach.zzebu", run_id, "notebook_version")
    assert set(versions) == {"rank_headlines", "word_stats"} and all(versions.values())
    states = _states(airflow_db, "peach.zzebu", run_id)
    assert states["rank_headlines"][2] <= states["word_stats"][1]  # one after the other
    assert "creating the Python environment" in first.output
    assert "skipped the IPython magic" in first.output  # the example's magics, without IPython

    second = dags_test("peach.zzebu", folder, airflow_db, **_env(tmp_path))
    assert second.returncode == 0, second.output[-4000:]
    assert "creating the Python environment" not in second.output
    assert second.output.count("reusing the Python environment") == 2  # both tasks, nothing installed


def test_conf_overrides_args_for_one_run(airflow_db: Path, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    conf = json.dumps({"rank_headlines.top": 1, "rank_headlines.weights": {"bakery": 100}})
    result = dags_test("peach.zzebu", folder, airflow_db, conf=conf, **_env(tmp_path))
    assert result.returncode == 0, result.output[-4000:]
    results = _xcom(airflow_db, "peach.zzebu", _latest_run(airflow_db, "peach.zzebu"))
    assert results["rank_headlines"] == {"top": ["New bakery opens on the square"], "side_effect_ran": False}
    assert results["word_stats"]["words"] == [["election", 2], ["storm", 1], ["closes", 1]]  # YAML values


SLOW = """\
codops: tst
tasks:
  slow:
    notebook: nb.ipynb
    method: slow
  quick:
    notebook: nb.ipynb
    method: quick
"""


def test_a_task_over_its_timeout_fails_the_next_still_runs_and_the_run_ends_failed(
    airflow_db: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "dags"
    (folder / "tst").mkdir(parents=True)
    shutil.copy(LOADER, folder / LOADER.name)
    (folder / "tst" / "peach.yaml").write_text(SLOW)
    write_notebook(folder / "tst" / "nb.ipynb", [
        "import time\n\ndef slow():\n    time.sleep(120)\n    return 'never'\n",
        "def quick():\n    return 'done'\n"])
    result = dags_test("peach.tst", folder, airflow_db, **_env(tmp_path, AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT="5"))
    assert result.returncode != 0
    run_id = _latest_run(airflow_db, "peach.tst")
    states = {task: state for task, (state, _, _) in _states(airflow_db, "peach.tst", run_id).items()}
    assert states["slow"] == "failed"
    assert states["quick"] == "success"
    assert states["loop_result"] == "upstream_failed"
    assert _xcom(airflow_db, "peach.tst", run_id)["quick"] == "done"
    assert "ran longer than its timeout" in result.output  # the step failed by its execution_timeout
    with sqlite3.connect(airflow_db / "airflow.db") as db:
        assert db.execute("select state from dag_run where run_id = ?", (run_id,)).fetchone()[0] == "failed"
