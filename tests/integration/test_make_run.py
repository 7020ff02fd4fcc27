"""`make run` as a new user meets it: a busy port is an error before anything starts, the README's command-line
block works as written in a second shell, and Ctrl-C stops every Airflow process even with the output piped."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration
RUN_SH = str(REPO / "scripts" / "run.sh")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new shell: none of the test session's Airflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(extra)
    return env


def _processes_of(home: Path) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if f"AIRFLOW_HOME={home}".encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def readme_command_block() -> list[str]:
    """The README's command-line block under "Triggering": each command as written, comments dropped."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Triggering", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\n(export AIRFLOW_HOME=.*?)```", section, re.DOTALL)
    assert block, "the README's Triggering section has no command block starting with `export AIRFLOW_HOME=`"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_a_busy_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        home = tmp_path / "home"
        proc = subprocess.run([RUN_SH], check=False, capture_output=True, text=True, timeout=60,
                              env=_clean_env(TASKSPEC_AIRFLOW_HOME=str(home), TASKSPEC_PORT=str(port)))
    assert proc.returncode == 1
    assert f"port {port} is already in use" in proc.stderr
    assert "Airflow is running" not in proc.stdout
    assert not home.exists(), "nothing may be set up or started when the port is taken"


def test_readme_commands_work_and_ctrl_c_through_a_pipe_stops_everything(tmp_path: Path) -> None:
    home, port = tmp_path / "airflow", _free_port()
    log, err = tmp_path / "run.log", tmp_path / "run.err"
    env = _clean_env(TASKSPEC_AIRFLOW_HOME=str(home), TASKSPEC_PORT=str(port),
                     AIRFLOW__TASKSPEC__WORKSPACE_ROOT=str(tmp_path / "ws"))
    with open(err, "w") as err_fh:
        # As `make run | tee run.log` in a terminal: one process group, and Ctrl-C goes to all of it (tee too).
        proc = subprocess.Popen(["bash", "-c", f"{RUN_SH} | tee {log}"], env=env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=err_fh, start_new_session=True)
        try:
            deadline = time.monotonic() + 240
            while not (log.exists() and "Airflow is running" in log.read_text()):
                assert proc.poll() is None and time.monotonic() < deadline, err.read_text()[-3000:]
                time.sleep(1)

            # The README's block, in a second shell that only ran the README's exports.
            commands = readme_command_block()
            assert commands[0].startswith("export AIRFLOW_HOME=$PWD/.airflow")
            script = "set -e\n" + "\n".join(commands).replace("$PWD/.airflow", str(home)) + "\n"
            script += "airflow dags list --output plain --columns dag_id\n"
            shell = subprocess.run(["bash", "-c", script], check=False, cwd=REPO, capture_output=True, text=True, timeout=600,
                                   env=_clean_env(AIRFLOW__TASKSPEC__WORKSPACE_ROOT=str(tmp_path / "ws2")))
            out = shell.stdout + shell.stderr
            assert shell.returncode == 0, out[-4000:]
            assert "could not be found" not in out
            listed = shell.stdout.split()
            assert "house_prices.train_and_compare" in listed
            assert not [d for d in listed if d.startswith("example_")], "Airflow's example DAGs were loaded"
            assert re.search(r"house_prices\.train_and_compare.*state=success|DagRun Finished.*state=success",
                             out), out[-4000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=90)
    deadline = time.monotonic() + 30
    while _processes_of(home) and time.monotonic() < deadline:
        time.sleep(1)
    left = _processes_of(home)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of this Airflow home still alive after Ctrl-C: {left}"
    assert "stopped" in err.read_text()
