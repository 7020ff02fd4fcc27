"""Running real Airflow commands against a DAG folder, for integration tests."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import BIN


@dataclass
class DagTest:
    returncode: int
    output: str


def dags_test(dag_id: str, dag_folder: Path, home: Path, timeout: int = 600, conf: str | None = None,
              **env: str) -> DagTest:
    """`airflow dags test DAG` with the local backend and SQLite; task logs come back in ``output``."""
    environ = os.environ.copy()
    environ.update({"AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder), "AIRFLOW_HOME": str(home), **env})
    proc = subprocess.run([str(BIN / "airflow"), "dags", "test", dag_id, *(["--conf", conf] if conf else [])],
                          capture_output=True, text=True,
                          env=environ, timeout=timeout)
    return DagTest(proc.returncode, proc.stdout + proc.stderr)
