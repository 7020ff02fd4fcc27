"""Load: 30 runs of the example pipeline triggered at once over REST, on PostgreSQL as production runs Airflow,
the local backend, parallelism 8. Every run succeeds with complete artifacts of its own; nothing is left
half-built (workspaces, Python environments). The figures are printed (`-s`) for the issue note."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import statistics
import time
from pathlib import Path

import pytest
from airflow_server import AirflowServer
from postgres_support import throwaway_postgres

from tests.conftest import REPO

pytestmark = pytest.mark.integration
DAG_ID = "house_prices.train_and_compare"
RUNS = 30


def _seconds(state: dict[str, object]) -> float:
    start = dt.datetime.fromisoformat(str(state["start_date"]))
    end = dt.datetime.fromisoformat(str(state["end_date"]))
    return (end - start).total_seconds()


def test_thirty_concurrent_runs_on_postgres(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__", "peach_demo"))
    store, workspaces, envs = tmp_path / "store", tmp_path / "ws", tmp_path / "envs"
    with throwaway_postgres() as db_url:
        env = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": str(RUNS),
            "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{store}",
            "AIRFLOW__TASKSPEC__WORKSPACE_ROOT": str(workspaces),
            "AIRFLOW__TASKSPEC__ENV_CACHE_DIR": str(envs),
        }
        with AirflowServer(dags, tmp_path / "airflow", env, parallelism=8) as api:
            api.wait_for_dag(DAG_ID)
            api.unpause(DAG_ID)
            started = time.monotonic()
            run_ids = [api.trigger(DAG_ID) for _ in range(RUNS)]
            states = {r: api.wait_for_run(DAG_ID, r, timeout=1800, every=2) for r in run_ids}
            wall = time.monotonic() - started
            failed = {r: s["state"] for r, s in states.items() if s["state"] != "success"}
            assert not failed, failed

    # Each run's artifacts are complete and its own: one comparison report naming both models, per run id.
    reports = sorted(store.rglob("comparison.json"))
    assert len(reports) == RUNS, [str(r) for r in reports]
    owners = {}
    for report in reports:
        data = json.loads(report.read_text())
        assert data["best"] in ("linear", "knn") and {m["model"] for m in data["models"]} == {"linear", "knn"}, data
        matching = [r for r in run_ids if _safe(r) in str(report)]
        assert len(matching) == 1, (report, matching)
        owners[matching[0]] = report
        models = {p.name for p in report.parents[1].rglob("*.json") if "models" in p.parts}
        assert {"linear.json", "knn.json"} <= models, (report, models)
    assert set(owners) == set(run_ids)

    # Nothing left half-built: no workspace, no environment being built, every environment complete.
    assert not [p for p in workspaces.rglob("*") if p.is_file()] if workspaces.exists() else True
    leftovers = [p.name for p in envs.iterdir() if ".tmp" in p.name]
    assert not leftovers, leftovers
    built = [p for p in envs.iterdir() if p.is_dir()]
    assert built and all((p / "bin" / "python").exists() for p in built)

    durations = sorted(_seconds(s) for s in states.values())
    figures = {"runs": RUNS, "parallelism": 8, "wall_seconds": round(wall, 1),
               "run_seconds": {"min": round(durations[0], 1), "median": round(statistics.median(durations), 1),
                               "max": round(durations[-1], 1)},
               "environments_built": len(built)}
    print("LOAD-TEST", json.dumps(figures))


def _safe(run_id: str) -> str:
    from airflow_taskspec.runtime import layout

    return layout.safe(run_id)
