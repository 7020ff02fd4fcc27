"""The example pipeline and a failing task, run through real Airflow (`airflow dags test`, SQLite, local backend)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, FAILING, LOADER, make_dag_folder
from tests.integration.airflow_cli import dags_test

pytestmark = pytest.mark.integration


def _store(home: Path) -> Path:
    return home / "taskspec" / "artifacts"


def _only_run_folder(base: Path) -> Path:
    runs = [p for p in base.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_example_pipeline_produces_its_report(airflow_db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    shutil.copytree(EXAMPLES / "house_prices", folder / "house_prices")
    shutil.copy(LOADER, folder / LOADER.name)
    store = tmp_path / "store"

    result = dags_test("house_prices.train_and_compare", folder, airflow_db,
                       AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{store}",
                       AIRFLOW__TASKSPEC__WORKSPACE_ROOT=str(tmp_path / "ws"))

    assert result.returncode == 0, result.output[-4000:]
    run = _only_run_folder(store / "artifacts" / "house_prices" / "train_and_compare")
    # compare's artifacts: its report and the two models it received from the parallel training steps
    report = json.loads((run / "compare" / "files" / "reports" / "comparison.json").read_text())
    models = {m["model"]: m for m in report["models"]}
    assert set(models) == {"linear", "knn"}
    assert report["best"] == min(models.values(), key=lambda m: m["rmse"])["model"]
    assert models["knn"]["params"] == {"k": 7}  # env from the `env:` spelling reached the command
    assert models["linear"]["params"]["alpha"] == 0.5  # and from `environment:`
    assert all(m["test_rows"] == 48 for m in models.values())  # prepare_data's 80/20 split of 240 rows
    assert (run / "compare" / "files" / "reports" / "summary.md").read_text().startswith("| model | RMSE (EUR) |")
    committed = json.loads((run / "compare" / "manifest.json").read_text())
    by_path = {f["path"]: f for f in committed["files"]}
    assert by_path["reports/comparison.json"]["size"] == (run / "compare" / "files" / "reports" /
                                                          "comparison.json").stat().st_size
    assert committed["dag_id"] == "house_prices.train_and_compare" and committed["step"] == "compare"
    # the steps handed their changed files forward: prepare -> train (prepared/), train -> compare (models/)
    exchange = _only_run_folder(store / "runs" / "house_prices" / "train_and_compare")
    assert (exchange / "prepare_data" / "handoff" / "files" / "prepared" / "train.csv").is_file()
    assert (exchange / "train_knn" / "handoff" / "files" / "models" / "knn.json").is_file()
    assert not (exchange / "compare").exists()  # the last step hands nothing on
    assert "linear: RMSE" in result.output and "knn: RMSE" in result.output
    # every workspace was removed by its step's cleanup
    assert not any((tmp_path / "ws").rglob("*"))




def test_failing_command_fails_with_exit_code_and_still_cleans_up(airflow_db: Path, tmp_path: Path) -> None:
    folder = make_dag_folder(tmp_path / "dags", {"failing": FAILING})
    store = tmp_path / "store"

    result = dags_test("failing.breaks", folder, airflow_db, AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{store}",
                       AIRFLOW__TASKSPEC__WORKSPACE_ROOT=str(tmp_path / "ws"))

    assert result.returncode != 0
    assert "the command exited with code 3" in result.output
    assert "about to fail" in result.output  # the command's own output streamed into the task log
    # collect ran after the failure and kept the partial output, then failed the step
    run = _only_run_folder(store / "artifacts" / "failing" / "breaks")
    assert (run / "breaks" / "files" / "partial.txt").read_text() == "partial result\n"
    assert "taskspec: run failed: the command exited with code 3 (1 output file(s) were saved first)" in result.output
    # cleanup ran anyway
    assert "removed workspace" in result.output
    assert not any((tmp_path / "ws").rglob("*"))


def test_pip_environment_is_reused_on_the_second_run(airflow_db: Path, tmp_path: Path) -> None:
    project = """\
name: envcache
tasks:
  - name: show
    executor: !pip
      pythonVersion: "3.11"
      command: python -c "import six; print('six', six.__version__)"
"""
    folder = make_dag_folder(tmp_path / "dags", {"envcache": project})
    (folder / "envcache" / "requirements.txt").write_text("six==1.16.0\n")
    cache = tmp_path / "envs"
    env = {"AIRFLOW__TASKSPEC__ENV_CACHE_DIR": str(cache), "AIRFLOW__TASKSPEC__WORKSPACE_ROOT": str(tmp_path / "ws"),
           "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{tmp_path / 'store'}"}

    first = dags_test("envcache.show", folder, airflow_db, **env)
    second = dags_test("envcache.show", folder, airflow_db, **env)

    assert first.returncode == 0 and second.returncode == 0, first.output[-3000:] + second.output[-3000:]
    assert "creating the Python environment" in first.output and "six 1.16.0" in first.output
    assert "reusing the Python environment" in second.output and "six 1.16.0" in second.output
    assert len(os.listdir(cache)) == 1


SECRETIVE = """\
name: secretive
tasks:
  - name: reads
    secrets:
      - !ame
        key: db_login
        injectAs: DB_LOGIN
    executor: !custom
      command: echo "got:$DB_LOGIN"; printf %s "$DB_LOGIN" > seen.txt
    artifacts:
      saveChangedFiles: true
"""


def test_a_secret_from_an_airflow_variable_reaches_the_command(airflow_db: Path, tmp_path: Path) -> None:
    # Masking in the task log is checked by tests/backends/test_step.py (Airflow's masker); `airflow dags test`
    # runs the task in-process without the supervisor's log redaction, so its console shows values unmasked.
    folder = make_dag_folder(tmp_path / "dags", {"secretive": SECRETIVE})
    store = tmp_path / "store"
    value = "plain-value-7c1e0b"  # nothing in its name or value looks sensitive to Airflow
    result = dags_test("secretive.reads", folder, airflow_db, AIRFLOW_VAR_DB_LOGIN=value,
                       AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{store}",
                       AIRFLOW__TASKSPEC__WORKSPACE_ROOT=str(tmp_path / "ws"))
    assert result.returncode == 0, result.output[-3000:]
    run = _only_run_folder(store / "artifacts" / "secretive" / "reads")
    assert (run / "reads" / "files" / "seen.txt").read_text() == value  # the command got the value
