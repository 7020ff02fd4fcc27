"""One step = one task: the local step operator run as Airflow's task runner would run it (no database):
phases in order with a log section each, collect after a failed command, the workspace removed whatever
happens, the command's process group stopped on a timeout or a kill, exceptions that keep their meaning,
phases with nothing to do skipped, and the data-set gate before anything."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog.testing
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    AirflowTaskTimeout,
    DagRunTriggerException,
)
from airflow.sdk.execution_time.timeout import timeout
from airflow_taskspec import ir
from airflow_taskspec.backends import StepPlan
from airflow_taskspec.backends.local import LocalRunTeardownOperator, LocalStepOperator
from airflow_taskspec.config import settings

RUN_ID = "manual__2026-11-21T10:00:00+00:00"


class Task:
    """A local step of DAG ``p.t``, its folders, and what it pushed to XCom."""

    def __init__(self, tmp: Path, command: str, plan: StepPlan | None = None, **run_changes: Any) -> None:
        self.project = tmp / "project"
        self.project.mkdir(exist_ok=True)
        (self.project / "input.txt").write_text("staged\n")
        self.ws_root, self.store = tmp / "ws", tmp / "store"
        self.settings = replace(settings(), workspace_root=str(self.ws_root), artifact_store=f"file://{self.store}",
                                artifact_conn_id="")
        run = ir.TaskRun(name="s", recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, command),
                         source=ir.ProjectSource(folder=str(self.project)),
                         artifacts=ir.Artifacts(save_changed_files=True))
        self.op = LocalStepOperator(plan=plan or StepPlan(dag_id="p.t", step="s"), settings=self.settings,
                                    task_run=replace(run, **run_changes))
        self.xcom: list[Any] = []

    def context(self, try_number: int = 1) -> dict[str, Any]:
        ti = SimpleNamespace(dag_id="p.t", task_id="s", run_id=RUN_ID, try_number=try_number,
                             xcom_push=lambda key, value: self.xcom.append((key, value)))
        return {"run_id": RUN_ID, "ti": ti}

    def saved(self) -> list[str]:
        base = self.store / "artifacts" / "p" / "t" / "manual__2026-11-21T10-00-00+00-00" / "s" / "files"
        return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) if base.exists() else []

    def leftovers(self) -> list[Path]:
        return list(self.ws_root.rglob("*")) if self.ws_root.exists() else []


@pytest.fixture
def task_log() -> Iterator[Callable[[], list[str]]]:
    """The task log's messages so far (the operator logs through structlog, as in a real task)."""
    with structlog.testing.capture_logs() as captured:
        yield lambda: [str(entry["event"]) for entry in captured]


def test_phases_run_in_order_each_in_a_folded_log_section_with_its_duration(
    tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    task = Task(tmp_path, "cat input.txt; echo made > out.txt")
    result = task.op.execute(task.context())
    log_lines = task_log()
    groups = [line.removeprefix("::group::") for line in log_lines if line.startswith("::group::")]
    assert groups == ["workspace", "provision", "run", "collect", "cleanup"]
    assert log_lines.count("::endgroup::") == 5
    took = [line for line in log_lines if line.startswith("taskspec: ") and line.endswith(" s")]
    assert [line.split()[1] for line in took] == ["workspace", "provision", "run", "collect", "cleanup"]
    assert all(" done in " in line for line in took)
    assert "staged" in log_lines  # the command ran in the provisioned workspace and its output is in the log
    assert [r["path"] for r in result] == ["out.txt"] and task.saved() == ["out.txt"]
    assert task.leftovers() == []


def test_a_failed_command_is_collected_then_fails_the_step_with_its_reason(tmp_path: Path) -> None:
    task = Task(tmp_path, "echo partial > partial.txt; exit 3")
    with pytest.raises(AirflowException) as err:
        task.op.execute(task.context())
    assert type(err.value) is AirflowException  # retryable
    assert str(err.value) == "taskspec: run failed: the command exited with code 3 (1 output file(s) were saved first)"
    assert task.saved() == ["partial.txt"]  # collect ran after the failure
    import hashlib

    saved = [{"url": f"file://{task.store}/artifacts/p/t/manual__2026-11-21T10-00-00+00-00/s/files/partial.txt",
              "path": "partial.txt", "size": 8, "sha256": hashlib.sha256(b"partial\n").hexdigest()}]
    manifest = dict(task.xcom)["output_manifest"]
    assert manifest["artifacts"] == saved and manifest["data_sets"] == []  # a failed run publishes no data set
    assert [key for key, _ in task.xcom] == ["output_manifest", "return_value"]
    assert dict(task.xcom)["return_value"] == saved
    assert task.leftovers() == []  # and cleanup ran


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return status != "Z"


def test_a_timeout_stops_the_whole_process_group_collects_and_stays_a_timeout(tmp_path: Path) -> None:
    # The command starts a child that would outlive bash if only bash were stopped.
    pid_file = tmp_path / "child.pid"
    task = Task(tmp_path, f"echo partial > partial.txt; sleep 300 & echo $! > {pid_file}; wait", timeout_seconds=2)
    # timeout(): what Airflow's task runner wraps execute() in for execution_timeout.
    with pytest.raises(AirflowTaskTimeout, match="taskspec: run failed: deadline exceeded"), timeout(2):
        task.op.execute(task.context())
    assert not _process_alive(int(pid_file.read_text()))
    assert task.saved() == ["partial.txt"]
    assert task.leftovers() == []


# A background child that takes a moment to exit on SIGTERM (its trap runs first): bash, the group's leader,
# is gone before it, so "stopped" must mean the whole group has exited, not the leader alone.
SLOW_TO_DIE = "( trap 'sleep 0.3; exit 0' TERM; sleep 300 & wait ) & echo $! > {pid_file}; wait"


def _run_in_thread(task: Task) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def task_runner() -> None:
        try:
            task.op.execute(task.context())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=task_runner)
    worker.start()
    return worker, errors


def test_on_kill_stops_the_process_group_and_removes_the_workspace_at_once(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    task = Task(tmp_path, SLOW_TO_DIE.format(pid_file=pid_file))
    worker, errors = _run_in_thread(task)
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:  # the command is running
        time.sleep(0.05)
    assert task.leftovers(), "the workspace exists while the command runs"
    # Marked failed / cleared: Airflow's SIGTERM handler calls this. It comes from another thread here, maybe
    # while the step's thread is still between starting the command and recording it.
    task.op.on_kill()
    assert task.leftovers() == [] and not _process_alive(int(pid_file.read_text()))
    worker.join(20)
    assert not worker.is_alive()
    assert len(errors) == 1 and "taskspec: run failed: the step was stopped" in str(errors[0])
    assert task.saved() == []  # a stopped step collects nothing


def test_a_workspace_removal_returns_complete_while_another_removes_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The step's cleanup and on_kill (from another thread) remove one workspace at once. Without serialising
    # them, the second can return while the first has the folder half-deleted and its parents still there,
    # which is how on_kill once returned with the DAG's folder left behind.
    from airflow_taskspec.backends import local

    root = tmp_path / "ws"
    workspace = root / "dag" / "run" / "step"
    workspace.mkdir(parents=True)
    (workspace / "file.txt").write_text("x")
    real_rmtree = local.shutil.rmtree
    first_inside, release_first = threading.Event(), threading.Event()
    finished: list[str] = []

    def rmtree_held_on_first_call(path: Any, **kwargs: Any) -> None:
        if not first_inside.is_set():
            first_inside.set()
            release_first.wait(20)
        real_rmtree(path, **kwargs)

    monkeypatch.setattr(local.shutil, "rmtree", rmtree_held_on_first_call)

    def remove(name: str) -> None:
        local.remove_workspace(str(workspace), str(root))
        finished.append(name)

    cleanup = threading.Thread(target=remove, args=("cleanup",))
    cleanup.start()
    assert first_inside.wait(20)
    kill = threading.Thread(target=remove, args=("on_kill",))
    kill.start()
    kill.join(0.5)  # with the removals serialised, on_kill waits here for the cleanup's removal
    release_first.set()
    cleanup.join(20)
    kill.join(20)
    assert finished == ["cleanup", "on_kill"]
    assert list(root.iterdir()) == []


def test_on_kill_while_the_command_starts_still_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Airflow's SIGTERM handler runs on_kill in the task's own thread, wherever it is: here right after the
    # command's process exists and before the operator has recorded it.
    from airflow_taskspec.backends import local

    pid_file = tmp_path / "child.pid"
    task = Task(tmp_path, SLOW_TO_DIE.format(pid_file=pid_file))
    real_popen = local.subprocess.Popen

    def popen_then_sigterm(args: Any, **kwargs: Any) -> Any:
        process = real_popen(args, **kwargs)
        if args[0] == "bash":  # the step's command
            task.op.on_kill()  # the signal handler, interrupting the start
        return process

    monkeypatch.setattr(local.subprocess, "Popen", popen_then_sigterm)
    worker, errors = _run_in_thread(task)
    worker.join(20)
    if worker.is_alive():  # the command was not stopped: stop it now (it is recorded by now), then fail
        task.op.on_kill()
        worker.join(20)
        pytest.fail("the command went on running after on_kill")
    assert len(errors) == 1 and "taskspec: run failed: the step was stopped" in str(errors[0])
    assert not pid_file.exists() or not _process_alive(int(pid_file.read_text()))
    assert task.leftovers() == [] and task.saved() == []


@pytest.mark.parametrize("raised", [AirflowFailException("no retry, please"), AirflowSkipException("nothing new")])
def test_exceptions_keep_their_meaning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raised: Exception) -> None:
    task = Task(tmp_path, "true")

    def provision(context: Any, state: Any) -> None:
        raise raised

    monkeypatch.setattr(task.op, "phase_provision", provision)
    with pytest.raises(type(raised)) as err:
        task.op.execute(task.context())
    assert type(err.value) is type(raised) and str(raised) in str(err.value)
    assert task.leftovers() == []


def test_a_phase_with_nothing_to_do_is_skipped(tmp_path: Path, task_log: Callable[[], list[str]]) -> None:
    # The image (here: the worker) carries the project, no earlier step, nothing saved.
    task = Task(tmp_path, "echo hi", source=ir.ProjectSource(), artifacts=ir.Artifacts())
    assert task.op.execute(task.context()) == []
    log_lines = task_log()
    groups = [line.removeprefix("::group::") for line in log_lines if line.startswith("::group::")]
    assert groups == ["workspace", "run", "cleanup"]
    assert "taskspec: provision: nothing to do for this step, skipped" in log_lines
    assert "taskspec: collect: nothing to do for this step, skipped" in log_lines


def test_a_retry_starts_in_a_fresh_workspace_with_the_project_staged_again(tmp_path: Path) -> None:
    task = Task(tmp_path, "test -f input.txt; test ! -e stale.txt; touch stale.txt")
    ws = Path(task.op.workspace(task.context()))
    ws.mkdir(parents=True)
    (ws / "stale.txt").write_text("left by a killed try\n")
    task.op.execute(task.context(try_number=2))
    assert task.saved() == ["stale.txt"] and task.leftovers() == []


# --- the data-set gate ---


def _publish(tmp: Path, store_root: Path) -> None:
    """A producer's successful collect: one committed version of other/images holding a.png."""
    from airflow_taskspec.runtime import datasets, store

    (tmp / "producer" / "data").mkdir(parents=True)
    (tmp / "producer" / "data" / "a.png").write_text("png")
    datasets.publish_version(str(tmp / "producer"), "data",
                             store.locate(f"file://{store_root}/datasets/other/images"), keep=3)

PRODUCED = ir.DataSetUse("other", "images", "data/images", "ame://other/images", producer_dag_id="other.fetch")


def test_a_missing_data_set_runs_its_producer_first_before_any_workspace(tmp_path: Path) -> None:
    task = Task(tmp_path, "cat data/images/a.png > seen.txt", data_sets=(PRODUCED,))
    with pytest.raises(DagRunTriggerException) as err:
        task.op.execute(task.context())
    trigger = err.value
    assert trigger.trigger_dag_id == "other.fetch"
    assert trigger.wait_for_completion and trigger.deferrable  # waits in the triggerer, not in a worker slot
    assert trigger.allowed_states == ["success"] and trigger.failed_states == ["failed"]
    assert task.leftovers() == []  # nothing was made before the data exists

    # The producer's run ended; its data set is published now: the step goes on and stages it.
    _publish(tmp_path, task.store)
    event = ("DagStateTrigger", {"run_ids": [trigger.dag_run_id], trigger.dag_run_id: "success"})
    task.op.execute_complete(task.context(), event)
    assert task.saved() == ["seen.txt"] and task.leftovers() == []


def test_a_data_set_that_exists_needs_no_producer_run(tmp_path: Path) -> None:
    task = Task(tmp_path, "cat data/images/a.png > seen.txt", data_sets=(PRODUCED,))
    _publish(tmp_path, task.store)
    task.op.execute(task.context())  # no DagRunTriggerException
    assert task.saved() == ["seen.txt"] and (task.store / "artifacts").exists()


def test_a_failed_producer_or_one_that_publishes_nothing_fails_the_consumer(tmp_path: Path) -> None:
    task = Task(tmp_path, "true", data_sets=(PRODUCED,))
    with pytest.raises(DagRunTriggerException) as err:
        task.op.execute(task.context())
    run_id = err.value.dag_run_id
    with pytest.raises(AirflowException, match="producer other.fetch ended 'failed'"):
        task.op.execute_complete(task.context(), ("t", {"run_ids": [run_id], run_id: "failed"}))
    with pytest.raises(AirflowFailException, match="succeeded .* but published nothing"):
        task.op.execute_complete(task.context(), ("t", {"run_ids": [run_id], run_id: "success"}))
    assert task.leftovers() == []


def test_a_dag_producing_its_own_data_set_has_no_gate(tmp_path: Path) -> None:
    task = Task(tmp_path, "true", data_sets=(replace(PRODUCED, producer_dag_id="p.t"),))
    assert task.op.data_set_gates == ()


# --- the run's teardown ---


def test_the_run_teardown_removes_every_workspace_of_its_run_only(tmp_path: Path) -> None:
    task = Task(tmp_path, "true")
    mine = Path(task.op.workspace(task.context()))
    (mine / "sub").mkdir(parents=True)
    other = task.ws_root / "p.t" / "scheduled__other" / "s"
    other.mkdir(parents=True)
    teardown = LocalRunTeardownOperator(task_id="taskspec_teardown", dag_id="p.t", settings=task.settings)
    assert teardown.execute({"run_id": RUN_ID}) == ["s"]
    assert not mine.exists() and not mine.parent.exists() and other.exists()


def test_user_code_sees_the_allow_list_and_the_pass_through_but_not_the_workers_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_log: Callable[[], list[str]]
) -> None:
    worker_secrets = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://airflow:pw@db/airflow",
                      "AIRFLOW__CORE__FERNET_KEY": "fernet-of-the-worker", "AIRFLOW_CONN_X": "http://u:p@x"}
    for name, value in {**worker_secrets, "UV_INDEX_URL": "https://mirror.example/simple",
                        "LC_TIME": "C.UTF-8"}.items():
        monkeypatch.setenv(name, value)
    task = Task(tmp_path, "env | sort", env=(ir.EnvVar("FROM_SPEC", "1"),))
    task.op.settings = replace(task.settings, env_passthrough=("UV_*",))
    task.op.execute(task.context())
    seen = {line.split("=", 1)[0] for line in task_log() if "=" in line and line.split("=", 1)[0].isupper()}
    assert not seen & set(worker_secrets)
    assert {"UV_INDEX_URL", "LC_TIME", "PATH", "HOME", "FROM_SPEC", "TASKSPEC_WORKSPACE", "TASKSPEC_RUN_ID"} <= seen
    assert "UV_INDEX_URL=https://mirror.example/simple" in task_log()


def test_env_passthrough_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__TASKSPEC__ENV_PASSTHROUGH", " UV_*, MY_TOKEN ,,")
    assert settings().env_passthrough == ("UV_*", "MY_TOKEN")


def test_a_secret_reaches_the_command_and_is_masked_in_the_task_log_from_then_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_log: Callable[[], list[str]]
) -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    value = "plain-value-4f2a9c"  # the Variable's name and value look harmless: only taskspec can mask it
    monkeypatch.setenv("AIRFLOW_VAR_DB_LOGIN", value)
    task = Task(tmp_path, 'echo "got:$DB_LOGIN"',
                secrets=(ir.SecretRef(ir.SecretStore.PLATFORM, "db_login", "DB_LOGIN"),))
    task.op.execute(task.context())
    assert f"got:{value}" in task_log()  # the value reached the command (captured before redaction)
    # What Airflow's task log writes for that line (the masker every task log line goes through):
    assert redact(f"got:{value}") == "got:***"


def _in_dag_with_params(task: Task) -> None:
    from airflow.sdk import DAG, Param

    task.op.dag = DAG("p.t", schedule=None, params={"epochs": Param(5, type="integer"),
                                                     "rate": Param(0.1, type="number")})


def test_a_conf_key_that_is_no_parameter_fails_the_step_before_anything_is_made(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    task = Task(tmp_path, f"touch {marker}")
    _in_dag_with_params(task)
    context = {**task.context(), "dag_run": SimpleNamespace(conf={"epoch": 50, "rate": 0.2, "zzz": 1})}
    with pytest.raises(AirflowFailException) as err:  # not retried: the same conf fails again
        task.op.execute(context)
    assert str(err.value) == (
        "the run's conf sets 'epoch' (did you mean 'epochs'?); 'zzz', which DAG p.t has no parameter for (its "
        "parameters are 'epochs', 'rate'); nothing ran: trigger it again with the parameters' own names")
    assert not marker.exists() and task.leftovers() == []


def test_a_conf_of_the_dags_own_parameters_runs_the_step(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    task = Task(tmp_path, f"touch {marker}")
    _in_dag_with_params(task)
    task.op.execute({**task.context(), "dag_run": SimpleNamespace(conf={"epochs": 50, "rate": 0.2})})
    assert marker.exists()


def test_the_command_reads_nothing_from_the_workers_stdin(tmp_path: Path, task_log: Callable[[], list[str]]) -> None:
    # The worker's fd 0 holds data here; a command that reads it would take what is not its own (and a task
    # that waits for input would hang until its timeout).
    read_end, write_end = os.pipe()
    os.write(write_end, b"not-yours\n")
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)
    try:
        task = Task(tmp_path, 'read -r line || echo "read: end of input"; echo "line: [$line]"')
        task.op.execute(task.context())
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(read_end)
    assert "read: end of input" in task_log() and "line: []" in task_log()
