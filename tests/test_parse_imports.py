"""What a parse of the DAG folder imports. Airflow parses the folder in a new process every few seconds and
once more for every task it runs, and pre-imports only `airflow.*` modules for it, so each of ours imported
there is paid on every parse. On a warm compile cache a parse builds DAGs from the compiled IR: it must import
neither what reads and normalises spec files (the pydantic models, the YAML loader, the notebook checks) nor
what only a running step needs (the phases, the notebook runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_dag_folder
from tests.notebooks import write_notebook

AME = "name: shop\ntasks:\n  - name: train\n    executor: !custom\n      command: python train.py\n"
PEACH = "codops: zzebu\ntasks:\n  rank:\n    notebook: nb.ipynb\n    method: rank\n    args: {top: 3}\n"

PROBE = """
import json, sys
from airflow_taskspec.loader import load_dags
dags = load_dags(sys.argv[1], {})
print(json.dumps({"dags": sorted(d.dag_id for d in dags),
                  "modules": sorted(m for m in sys.modules if m.startswith("airflow_taskspec"))}))
"""

READING = {
    "airflow_taskspec.dialects.yaml",
    "airflow_taskspec.dialects.diagnostics",
    "airflow_taskspec.dialects.ame.models",
    "airflow_taskspec.dialects.ame.parse",
    "airflow_taskspec.dialects.ame.normalise",
    "airflow_taskspec.dialects.peach.models",
    "airflow_taskspec.dialects.peach.parse",
    "airflow_taskspec.dialects.peach.normalise",
    "airflow_taskspec.dialects.peach.notebook_checks",
}
RUNNING = {
    "airflow_taskspec.runtime.phases",
    "airflow_taskspec.runtime.datasets",
    "airflow_taskspec.runtime.notebook",
    "airflow_taskspec.runtime.transfer",
    "airflow_taskspec.backends.notebook_task",
    "airflow_taskspec.artifact_store",
}


def _parse(folder: Path, cache: Path) -> dict[str, list[str]]:
    env = dict(os.environ, TASKSPEC_COMPILE_CACHE_DIR=str(cache))
    env.pop("_AIRFLOW_PARSING_CONTEXT_DAG_ID", None)
    out = subprocess.run([sys.executable, "-c", PROBE, str(folder / "taskspec_dags.py")], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    dags = make_dag_folder(tmp_path / "dags", {"shop": AME})
    (dags / "news").mkdir()
    (dags / "news" / "peach.yaml").write_text(PEACH)
    write_notebook(dags / "news" / "nb.ipynb", ["def rank(top):\n    return list(range(top))\n"])
    return dags


def test_a_warm_parse_imports_no_reader_and_no_step_runner(folder: Path, tmp_path: Path) -> None:
    cold = _parse(folder, tmp_path / "cache")
    warm = _parse(folder, tmp_path / "cache")

    expected = ["peach.zzebu", "shop.train"]
    assert cold["dags"] == warm["dags"] == expected
    assert READING <= set(cold["modules"])  # compiling reads the files with them
    assert set(warm["modules"]) & READING == set()
    assert set(warm["modules"]) & RUNNING == set()


def test_without_a_cache_every_parse_reads_the_files(folder: Path, tmp_path: Path) -> None:
    first = _parse(folder, Path("off"))
    again = _parse(folder, Path("off"))
    assert first["dags"] == again["dags"] == ["peach.zzebu", "shop.train"]
    assert READING <= set(again["modules"])
