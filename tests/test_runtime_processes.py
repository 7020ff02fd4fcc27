"""Stopping a command's process group: ``stop`` returns once every process of the group has exited, the
ones slow to die on SIGTERM included, and a process that ignores SIGTERM gets SIGKILL after the grace period."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from airflow_taskspec.runtime import processes


def _start(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_for(path: Path) -> int:
    deadline = time.monotonic() + 20
    while not path.exists() and time.monotonic() < deadline:  # the command has started its child
        time.sleep(0.02)
    return int(path.read_text())


def test_stop_returns_when_a_child_slow_to_exit_on_sigterm_has_exited(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # The child's TERM trap takes 0.5 s; bash, the group's leader, exits at once.
    process = _start(f"( trap 'sleep 0.5; exit 0' TERM; sleep 300 & wait ) & echo $! > {pid_file}; wait")
    child = _wait_for(pid_file)
    assert child in processes.group_members(process.pid)
    processes.stop(process, grace_seconds=10)
    assert process.returncode is not None
    assert processes.group_members(process.pid) == []  # nothing of the group runs any more
    assert processes.wait_gone([child], 0) == []


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    process = _start(f"( trap '' TERM; while :; do sleep 0.1; done ) & echo $! > {pid_file}; wait")
    child = _wait_for(pid_file)
    processes.stop(process, grace_seconds=1)
    assert processes.wait_gone([child], 0) == [] and processes.group_members(process.pid) == []  # SIGKILLed


def test_stopping_a_finished_command_does_nothing() -> None:
    process = _start("true")
    process.wait()
    processes.stop(process)
    assert process.returncode == 0
