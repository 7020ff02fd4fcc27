"""The broken-files state in a real Airflow (`airflow standalone`: dag-processor, api-server), over the REST API
the UI reads: a broken spec file shows the placeholder DAG; once the file is fixed, the parse that brings the
fixed DAG back no longer shows anything broken (no entry with the error tag or count, no import error), and the
placeholder leaves the DAG list by the parse after it (`stale_dag_threshold = 0` from scripts/airflow-parsing.cfg,
which `make run` writes into airflow.cfg and AirflowServer uses too)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow_server import AirflowServer
from airflow_taskspec.broken_files import BROKEN_FILES_DAG_ID, RESOLVED_DISPLAY_NAME

from tests.conftest import make_dag_folder

pytestmark = pytest.mark.integration

GOOD = """\
name: good
tasks:
  - name: step
    executor: !custom
      command: echo good
"""
FIXED = """\
name: fixme
tasks:
  - name: step
    executor: !custom
      command: echo fixed
"""
BROKEN = FIXED + """\
    resources:
      memory: ten gigabytes
"""
FIXED_DAG = "fixme.step"


def _dag(api: AirflowServer, dag_id: str) -> dict[str, Any] | None:
    reply = requests.get(f"{api.base}/api/v2/dags/{dag_id}", headers=api.headers, timeout=10)
    return dict(reply.json()) if reply.status_code == 200 else None


def _listed(api: AirflowServer) -> dict[str, dict[str, Any]]:
    """The DAG list as the UI's DAGs page asks for it (stale DAGs excluded)."""
    return {d["dag_id"]: d for d in api.get("/api/v2/dags", limit=100)["dags"]}


def broken_state(api: AirflowServer) -> list[str]:
    """Everything the UI shows that says a spec file is broken (empty: nothing)."""
    shown = []
    for dag_id, dag in _listed(api).items():
        tags = {t["name"] for t in dag.get("tags", [])}
        if "taskspec-error" in tags or "failed to compile" in (dag.get("dag_display_name") or ""):
            shown.append(f"DAG {dag_id}: {dag['dag_display_name']}")
    errors = api.get("/api/v2/importErrors")
    shown += [f"import error {e['filename']}: {e['stack_trace'][:200]}" for e in errors["import_errors"]]
    return shown


def _parsed_at(api: AirflowServer, dag_id: str) -> datetime:
    return datetime.fromisoformat(str(api.get(f"/api/v2/dags/{dag_id}")["last_parsed_time"]))


def _wait_for_parses(api: AirflowServer, dag_id: str, after: datetime, count: int, timeout: float = 180) -> None:
    """Until the loader file has been parsed ``count`` more times after ``after`` (seen on one of its DAGs)."""
    seen = {after}
    deadline = time.monotonic() + timeout
    while len(seen) <= count:
        assert time.monotonic() < deadline, f"fewer than {count} parses of the DAG folder; log:\n{api.log_tail()}"
        seen.add(_parsed_at(api, dag_id))
        time.sleep(0.2)


def test_the_parse_that_brings_a_fixed_dag_back_shows_nothing_broken(tmp_path: Path) -> None:
    dags = make_dag_folder(tmp_path / "dags", {"good": GOOD, "fixme": BROKEN})
    env = {
        "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{tmp_path / 'store'}",
        "AIRFLOW__TASKSPEC__WORKSPACE_ROOT": str(tmp_path / "ws"),
        "TASKSPEC_COMPILE_CACHE_DIR": str(tmp_path / "compile-cache"),
        # The loader file itself does not change when a spec file does: it is parsed again every 5 s here.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
    }
    with AirflowServer(dags, tmp_path / "airflow", env, parallelism=2) as api:
        api.wait_for_dag("good.step")
        api._wait("the broken-files DAG", lambda: BROKEN_FILES_DAG_ID in _listed(api), 120, 0.5)
        broken = broken_state(api)
        assert len(broken) == 1 and "1 spec file(s) failed to compile" in broken[0], broken
        assert _dag(api, FIXED_DAG) is None

        (dags / "fixme" / "ame.yaml").write_text(FIXED)
        deadline = time.monotonic() + 120
        while not ((found := _dag(api, FIXED_DAG)) and not found["is_stale"]):
            assert time.monotonic() < deadline, f"{FIXED_DAG} never appeared; log:\n{api.log_tail()}"
            time.sleep(0.1)
        # At once, in the state the fixing parse wrote: nothing broken is shown.
        at_fix = broken_state(api)
        placeholder = _listed(api).get(BROKEN_FILES_DAG_ID)
        assert at_fix == [], at_fix
        assert placeholder is None or placeholder["dag_display_name"] == RESOLVED_DISPLAY_NAME, placeholder

        # The parse after it drops the entry, and Airflow's next cleanup scan deactivates it: gone from the list
        # by the parse after that one.
        _wait_for_parses(api, FIXED_DAG, _parsed_at(api, FIXED_DAG), count=2)
        assert BROKEN_FILES_DAG_ID not in _listed(api)
        gone = _dag(api, BROKEN_FILES_DAG_ID)
        assert gone is None or gone["is_stale"], gone
        assert broken_state(api) == []
        assert {"good.step", FIXED_DAG} <= set(_listed(api))
