"""Typed inputs and declared outputs through real Airflow (`airflow dags test --conf`, local backend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_dag_folder
from tests.integration.airflow_cli import dags_test

pytestmark = pytest.mark.integration

PROJECT = """\
name: proj
tasks:
  - name: segment
    executor: !custom
      command: >-
        mkdir -p out &&
        echo "{\\"threshold\\": $(cat inputs/threshold), \\"mode\\": \\"$INPUT_MODE\\", \\"sizes\\": $INPUT_SIZES,
        \\"mask\\": \\"$(cat inputs/mask)\\", \\"notes\\": \\"$(cat notes.txt)\\"}" > out/result.json
    inputs:
      - name: threshold
        type: number
        default: 0.5
        minimum: 0
        maximum: 1
      - name: mode
        type: enumeration
        values: [fast, accurate]
        default: fast
      - name: sizes
        type: array
        items: integer
        default: [1, 2]
      - name: mask
        type: file
        default: none
      - name: notes
        content: inline notes
        path: notes.txt
    outputs:
      - path: out/*.json
"""


def test_typed_inputs_from_conf_reach_the_task_as_files_and_env_and_outputs_are_listed(
    airflow_db: Path, tmp_path: Path
) -> None:
    folder = make_dag_folder(tmp_path / "dags", {"proj": PROJECT})
    store = tmp_path / "store"
    conf = json.dumps({"threshold": 0.25, "mode": "accurate", "sizes": [3, 4, 5], "mask": "P1 1 1 0"})
    result = dags_test("proj.segment", folder, airflow_db, conf=conf, AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{store}",
                       AIRFLOW__TASKSPEC__WORKSPACE_ROOT=str(tmp_path / "ws"))
    assert result.returncode == 0, result.output[-4000:]
    [saved] = list(store.glob("artifacts/proj/segment/*/segment/files/out/result.json"))
    assert json.loads(saved.read_text()) == {"threshold": 0.25, "mode": "accurate", "sizes": [3, 4, 5],
                                             "mask": "P1 1 1 0", "notes": "inline notes"}
    assert "collect: output out/*.json: 1 file" in result.output


def test_a_value_outside_its_bounds_is_rejected_before_anything_runs(airflow_db: Path, tmp_path: Path) -> None:
    folder = make_dag_folder(tmp_path / "dags", {"proj": PROJECT})
    result = dags_test("proj.segment", folder, airflow_db, conf=json.dumps({"threshold": 2}),
                       AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{tmp_path / 'store'}",
                       AIRFLOW__TASKSPEC__WORKSPACE_ROOT=str(tmp_path / "ws"))
    assert result.returncode != 0
    assert "2 is greater than the maximum of 1" in result.output
    assert not (tmp_path / "ws").exists() or not any((tmp_path / "ws").rglob("*"))
    assert not (tmp_path / "store").exists()


def test_a_misspelt_conf_key_fails_the_run_instead_of_running_with_the_default(airflow_db: Path,
                                                                               tmp_path: Path) -> None:
    # Airflow keeps a conf key that is no param; the step would have run with threshold's default 0.5.
    folder = make_dag_folder(tmp_path / "dags", {"proj": PROJECT})
    result = dags_test("proj.segment", folder, airflow_db, conf=json.dumps({"treshold": 0.25}),
                       AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{tmp_path / 'store'}",
                       AIRFLOW__TASKSPEC__WORKSPACE_ROOT=str(tmp_path / "ws"))
    assert result.returncode != 0
    assert "the run's conf sets 'treshold' (did you mean 'threshold'?), which DAG proj.segment has no parameter" \
        in result.output, result.output[-4000:]
    assert not (tmp_path / "ws").exists() or not any((tmp_path / "ws").rglob("*"))
    assert not (tmp_path / "store").exists()
