"""Test setup: one throw-away AIRFLOW_HOME per session, set before anything imports Airflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "dags" / "examples"
LOADER = REPO / "dags" / "taskspec_dags.py"
# Material from outside the repository (the AME corpus): optional for `make test` in a clone on its own,
# required by .ci/run, which points TASKSPEC_SHARED_DIR at ../shared and fails when it is missing.
SHARED_DIR = Path(os.environ.get("TASKSPEC_SHARED_DIR") or REPO.parent / "shared")
CORPUS = SHARED_DIR / "corpus" / "ame"
BIN = Path(sys.executable).parent

_HOME = Path(tempfile.mkdtemp(prefix="taskspec-test-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__TASKSPEC__BACKEND": "local",
    # The local backend's environment cache outlives the test session, so the example's numpy installs once.
    "AIRFLOW__TASKSPEC__ENV_CACHE_DIR": str(REPO / ".cache" / "test-envs"),
})


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """An SQLite metadata database, migrated once per session."""
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return airflow_home


# A project whose command leaves a partial output, then fails.
FAILING = """\
name: failing
tasks:
  - name: breaks
    executor: !custom
      command: echo "partial result" > partial.txt; echo "about to fail"; exit 3
    artifacts:
      saveChangedFiles: true
"""


# A data set with its producer, and a consumer task that reads it.
GATES = """\
name: gates
dataSets:
  - name: numbers
    path: data/numbers
    task:
      name: make_numbers
      executor: !custom
        command: mkdir -p data/numbers && seq 1 5 > data/numbers/n.txt
tasks:
  - name: sum_numbers
    executor: !custom
      command: awk '{s += $1} END {print s}' data/numbers/n.txt > total.txt
    dataSets: [numbers]
    artifacts:
      paths: [total.txt]
"""


def make_dag_folder(root: Path, projects: dict[str, str]) -> Path:
    """A DAG folder holding the loader file and one ame.yaml per project name."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(LOADER, root / LOADER.name)
    for name, text in projects.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "ame.yaml").write_text(text)
    return root


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CORPUS.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the AME corpus at {CORPUS} (set TASKSPEC_SHARED_DIR; .ci/run does)")
    for item in items:
        if item.get_closest_marker("shared"):
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)
