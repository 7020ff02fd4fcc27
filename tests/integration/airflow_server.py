"""A real Airflow (`airflow standalone`: api-server, scheduler with LocalExecutor, dag-processor, triggerer,
SQLite) on a free loopback port, for one test module or one benchmark, and its REST API.

    with AirflowServer(dag_folder, home, env={...}) as airflow:
        airflow.wait_for_dag("p.t"); airflow.unpause("p.t")
        run_id = airflow.trigger("p.t"); airflow.wait_for_run("p.t", run_id)

Started in its own process group (its LocalExecutor workers ignore a SIGTERM to the parent alone) and
stopped by a SIGTERM, then a SIGKILL, to that group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

import requests

BIN = Path(sys.executable).parent
FINISHED = ("success", "failed")
PARSING_CFG = Path(__file__).resolve().parents[2] / "scripts" / "airflow-parsing.cfg"


def parsing_settings() -> dict[str, str]:
    """What `make run` writes into airflow.cfg from scripts/airflow-parsing.cfg, as Airflow environment variables."""
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(PARSING_CFG)
    return {f"AIRFLOW__{s.upper()}__{k.upper()}": v for s in cfg.sections() for k, v in cfg[s].items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AirflowServer:
    def __init__(self, dag_folder: Path, home: Path, env: dict[str, str] | None = None, parallelism: int = 4) -> None:
        self.dag_folder, self.home = dag_folder, home
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "standalone.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        environ.update({
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": f"http://localhost:{self.port}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            **parsing_settings(),
            **(env or {}),
        })
        self.env = environ
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""

    # --- lifecycle ---

    def __enter__(self) -> Self:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True)
        try:
            self._wait("the API server to be healthy", self._healthy, 240)
            password = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
            reply = requests.post(f"{self.base}/auth/token", json={"username": "admin", "password": password},
                                  timeout=10)
            reply.raise_for_status()
            self.token = reply.json()["access_token"]
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(pgid):
                time.sleep(0.5)
            if not _group_alive(pgid):
                break
        self.proc.wait(10)
        self.proc = None

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"airflow standalone exited ({self.proc.returncode}):\n{self.log_tail()}")
        try:
            return requests.get(f"{self.base}/api/v2/monitor/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def _wait(self, what: str, check: Any, timeout: float, every: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := check():
                return found
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; Airflow's log:\n{self.log_tail()}")

    # --- REST ---

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **params: Any) -> Any:
        reply = requests.get(f"{self.base}{path}", headers=self.headers, params=params, timeout=30)
        reply.raise_for_status()
        return reply.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        reply = requests.post(f"{self.base}{path}", headers=self.headers, json=body, timeout=30)
        if reply.status_code >= 400:
            raise AssertionError(f"POST {path} -> {reply.status_code}: {reply.text}")
        return reply.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        def parsed() -> bool:
            return requests.get(f"{self.base}/api/v2/dags/{dag_id}", headers=self.headers, timeout=10).status_code == 200

        self._wait(f"DAG {dag_id} to be parsed", parsed, timeout)

    def unpause(self, dag_id: str) -> None:
        reply = requests.patch(f"{self.base}/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=self.headers,
                               timeout=10)
        reply.raise_for_status()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        return str(self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600, every: float = 0.5) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            try:  # a busy machine can make one poll slow; the next one decides
                run = self.run(dag_id, run_id)
            except requests.RequestException:
                return None
            return run if run["state"] in FINISHED else None

        return dict(self._wait(f"run {run_id} of {dag_id} to finish", finished, timeout, every))

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        found = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {t["task_id"]: t for t in found}

    def clear(self, dag_id: str, run_id: str, task_ids: list[str]) -> list[str]:
        """What the UI's Clear on a task instance sends (with its default: downstream tasks too)."""
        body = {"dry_run": False, "dag_run_id": run_id, "task_ids": task_ids, "include_downstream": True,
                "include_upstream": False, "include_future": False, "include_past": False, "only_failed": False}
        return [t["task_id"] for t in self.post(f"/api/v2/dags/{dag_id}/clearTaskInstances", body)["task_instances"]]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
        """The task log's messages, in order."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        content = self.get(path, full_content="true")["content"]
        return [str(e.get("event", "")) if isinstance(e, dict) else str(e) for e in content]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Zombies of the group count as gone.
    out = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True, check=False).stdout
    rows = (line.split() for line in out.splitlines())
    return any(len(r) == 2 and r[0] == str(pgid) and not r[1].startswith("Z") for r in rows)
