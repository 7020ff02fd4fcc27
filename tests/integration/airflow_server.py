"""A running `airflow standalone` for one test, and a small REST client for it.

    with running_airflow(home, dags, extra_env) as api:
        api.unpause(dag_id); run_id = api.trigger(dag_id); api.wait(dag_id, run_id)

Started in its own process group (its LocalExecutor workers ignore SIGTERM from their parent alone) and
stopped with SIGTERM, then SIGKILL, to the whole group, whatever happened in the test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.conftest import BIN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AirflowApi:
    base: str
    log: Path
    headers: dict[str, str] = field(default_factory=dict)

    def login(self, password: str) -> None:
        r = requests.post(f"{self.base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def get(self, path: str) -> Any:
        r = requests.get(f"{self.base}/api/v2{path}", headers=self.headers, timeout=60)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = requests.post(f"{self.base}/api/v2{path}", json=body, headers=self.headers, timeout=60)
        r.raise_for_status()
        return r.json()

    def unpause(self, dag_id: str) -> None:
        requests.patch(f"{self.base}/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=self.headers,
                       timeout=60).raise_for_status()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None}
        if conf is not None:
            body["conf"] = conf
        return str(self.post(f"/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{dag_id}/dagRuns/{run_id}"))

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        wait_until(lambda: requests.get(f"{self.base}/api/v2/dags/{dag_id}", headers=self.headers,
                                        timeout=30).status_code == 200, timeout, f"{dag_id} to be parsed", self.log)

    def wait_for_runs(self, dag_id: str, run_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        done: dict[str, dict[str, Any]] = {}

        def all_done() -> bool:
            for run_id in run_ids:
                if run_id not in done:
                    state = self.run_state(dag_id, run_id)
                    if state.get("state") in ("success", "failed"):
                        done[run_id] = state
            return len(done) == len(run_ids)

        wait_until(all_done, timeout, f"{len(run_ids)} runs of {dag_id} to finish", self.log, interval=2)
        return done


def wait_until(predicate: Any, timeout: float, what: str, log: Path, interval: float = 1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; Airflow's output ends:\n{tail}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@contextmanager
def running_airflow(home: Path, dags: Path, extra_env: dict[str, str] | None = None,
                    startup_timeout: float = 240) -> Iterator[AirflowApi]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__TASKSPEC__BACKEND": "local",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        **(extra_env or {}),
    })
    home.mkdir(parents=True, exist_ok=True)
    migrate = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True,
                             check=False)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    log = home / "standalone.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    api = AirflowApi(f"http://127.0.0.1:{port}", log)
    try:
        wait_until(lambda: _healthy(api.base) or proc.poll() is not None, startup_timeout, "Airflow to start", log)
        assert proc.poll() is None, log.read_text()[-3000:]
        passwords = home / "simple_auth_manager_passwords.json.generated"
        api.login(json.loads(passwords.read_text())["admin"])
        yield api
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            if _group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False
