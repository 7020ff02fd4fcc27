"""`make run`'s script starts Airflow; a user triggers the example pipeline over the REST API and it succeeds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import REPO

BROKEN = "name: broken\ntasks:\n  - name: bad\n    executor: !custom\n      command: echo hi\n    triggers:\n      schedule: every day\n"

pytestmark = pytest.mark.integration
DAG_ID = "house_prices.train_and_compare"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop run.sh the way Ctrl-C does (its trap stops Airflow's own process group), then make sure."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def airflow_server(tmp_path: Path) -> Any:
    port = _free_port()
    home = tmp_path / "airflow"
    env = os.environ.copy()
    env.update({"TASKSPEC_AIRFLOW_HOME": str(home), "TASKSPEC_PORT": str(port),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__TASKSPEC__WORKSPACE_ROOT": str(tmp_path / "ws"),
                "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{tmp_path / 'store'}"})
    env.pop("AIRFLOW_HOME", None)
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    # The example DAG folder, plus one broken project that must show up in the UI without hiding the others.
    dags = tmp_path / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / "broken").mkdir()
    (dags / "broken" / "ame.yaml").write_text(BROKEN)
    env["TASKSPEC_DAGS"] = str(dags)
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 -- the server writes to it until the fixture ends
    proc = subprocess.Popen([str(REPO / "scripts" / "run.sh")], stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        yield proc, port, home, tmp_path
    finally:
        pgids = _airflow_groups(home)
        _stop(proc)
        log.close()
        deadline = time.monotonic() + 30
        while any(_group_alive(g) for g in pgids) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftovers = [g for g in pgids if _group_alive(g)]
        for g in leftovers:
            os.killpg(g, signal.SIGKILL)
        assert not leftovers, f"Airflow process groups still alive after stop: {leftovers}"


def _airflow_groups(home: Path) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pgid,args"], check=True, capture_output=True, text=True).stdout
    groups = set()
    for line in out.splitlines()[1:]:
        pgid, _, args = line.strip().partition(" ")
        if "airflow" in args and pgid.isdigit():
            try:
                with open(f"/proc/{pgid}/environ", "rb") as fh:
                    if str(home).encode() in fh.read():
                        groups.add(int(pgid))
            except OSError:
                continue
    return groups


def _wait_for(predicate: Any, timeout: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; run.sh output:\n{log.read_text()[-3000:]}")


def test_trigger_example_pipeline_over_rest(airflow_server: Any) -> None:
    _proc, port, _home, tmp = airflow_server
    base = f"http://127.0.0.1:{port}"
    log = tmp / "run.log"
    _wait_for(lambda: "Login:  admin / " in log.read_text(), 180, "run.sh to print the login", log)
    password = log.read_text().split("Login:  admin / ")[1].split()[0]
    token = requests.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def dag_listed() -> bool:
        r = requests.get(f"{base}/api/v2/dags/{DAG_ID}", headers=headers, timeout=30)
        return r.status_code == 200

    _wait_for(dag_listed, 120, f"{DAG_ID} to be parsed", log)
    # The broken file is visible where a user looks: a DAG in the UI whose docs carry file:line and the error.
    broken = requests.get(f"{base}/api/v2/dags/taskspec.broken_files/details", headers=headers, timeout=30)
    assert broken.status_code == 200
    assert broken.json()["dag_display_name"].startswith("! taskspec: 1 spec file(s) failed")
    assert f"{tmp / 'dags' / 'broken' / 'ame.yaml'}:7:" in broken.json()["doc_md"]
    assert "not a valid 5-field cron expression" in broken.json()["doc_md"]

    requests.patch(f"{base}/api/v2/dags/{DAG_ID}", json={"is_paused": False}, headers=headers,
                   timeout=30).raise_for_status()
    created = requests.post(f"{base}/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None}, headers=headers,
                            timeout=30)
    created.raise_for_status()
    run_id = created.json()["dag_run_id"]

    def finished() -> str | None:
        try:  # a busy machine can make one poll slow; the next one decides
            r = requests.get(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", headers=headers, timeout=30)
        except requests.RequestException:
            return None
        state = r.json().get("state")
        return state if state in ("success", "failed") else None

    state = _wait_for(finished, 420, "the DAG run to finish", log)
    tis = requests.get(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", headers=headers,
                       timeout=30).json()["task_instances"]
    assert state == "success", json.dumps([(t["task_id"], t["state"]) for t in tis])
    # One task instance per step, plus the run's teardown.
    assert {t["task_id"]: t["state"] for t in tis} == {
        "prepare_data": "success", "train_linear": "success", "train_knn": "success", "compare": "success",
        "taskspec_teardown": "success"}
    reports = list((tmp / "store" / "artifacts" / "house_prices" / "train_and_compare").glob(
        "*/compare/files/reports/comparison.json"))
    assert len(reports) == 1 and json.loads(reports[0].read_text())["best"] in ("linear", "knn")
