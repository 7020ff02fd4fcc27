"""The local backend: the same phases as the kubernetes backend, as folders and processes on the worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from typing import Any

from airflow.sdk import TriggerRule
from airflow.sdk.exceptions import AirflowException

from .. import artifact_store, ir, recipes
from ..config import Settings
from ..runtime import layout, phases
from . import Phases, StepPlan
from .phases import (
    RunNames,
    TaskRunOperator,
    data_set_publishing,
    data_set_staging,
    execution_timeout,
    fail_unless_run_succeeded,
    input_env,
    input_staging,
    resolve_secrets,
    run_state,
)


class _LocalPhase(TaskRunOperator):
    """Common to the local phase operators: where this run's workspace is."""

    def names(self, context: Any) -> RunNames:
        return RunNames.from_context(self.plan, self.settings, context)

    def workspace(self, context: Any) -> str:
        return layout.workspace_dir(self.settings.workspace_root, self.plan.dag_id, context["run_id"], self.plan.group_id)


class LocalWorkspaceOperator(_LocalPhase):
    """Setup: a fresh, empty folder for this task run."""

    ui_color = "#eeeeee"

    def execute(self, context: Any) -> str:
        path = self.workspace(context)
        if os.path.exists(path):  # a retry or a cleared run starts clean
            shutil.rmtree(path)
        os.makedirs(path)
        self.log.info("workspace %s", path)
        return path


class LocalProvisionOperator(_LocalPhase):
    """Copies the project folder, earlier steps' outputs and data sets into the workspace."""

    ui_color = "#dbeafe"

    def execute(self, context: Any) -> dict[str, Any]:
        names = self.names(context)
        spec = phases.ProvisionSpec(
            workspace=self.workspace(context),
            project_url=self.task_run.source.folder,
            upstream_outputs=names.earlier_outputs(self.plan),
            data_sets=data_set_staging(self.task_run, self.settings),
            inputs=input_staging(self.task_run, context),
        )
        return phases.provision(spec, log=self.log.info, fs=artifact_store.filesystem(self.settings))


class LocalRunOperator(_LocalPhase):
    """Runs the executor recipe and the command; streams its output into the task log."""

    ui_color = "#fde68a"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._process: subprocess.Popen[bytes] | None = None

    def environment(self, context: Any, workspace: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.names(context).provided_env(workspace))
        env["TASKSPEC_UV"] = _uv_binary()
        env.update(input_env(self.task_run, context))
        env.update({var.name: var.value for var in self.task_run.env})
        env.update(resolve_secrets(self.task_run.secrets, self.settings))
        return env

    def execute(self, context: Any) -> None:
        workspace = self.workspace(context)
        version = self.task_run.recipe.python_version or self.settings.default_python_version
        script = recipes.script(self.task_run.recipe, python_version=version, env_cache_dir=self.settings.env_cache_dir)
        self.log.info("running in %s:\n%s", workspace, script)
        self._process = subprocess.Popen(
            ["bash", "-c", script], cwd=workspace, env=self.environment(context, workspace),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            self.log.info("%s", raw.decode(errors="replace").rstrip("\n"))
        code = self._process.wait()
        if code != 0:
            raise AirflowException(f"the command exited with code {code}")
        self.log.info("the command exited with code 0")

    def on_kill(self) -> None:
        # Marked failed, timed out or cleared: stop the whole process group, not only bash.
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)


class LocalCollectOperator(_LocalPhase):
    """Saves artifacts (also after a failed run), hands changed files to later steps, then reports the run."""

    ui_color = "#dcfce7"

    def __init__(self, *, run_task_id: str, **kwargs: Any) -> None:
        super().__init__(trigger_rule=TriggerRule.ALL_DONE_SETUP_SUCCESS, **kwargs)
        self.run_task_id = run_task_id

    def execute(self, context: Any) -> dict[str, Any]:
        names = self.names(context)
        spec = phases.CollectSpec(
            workspace=self.workspace(context),
            artifact_url=names.artifact_url,
            artifact_paths=list(self.task_run.artifacts.paths),
            save_changed_files=self.task_run.artifacts.save_changed_files,
            exchange_url=names.exchange_url if self.plan.hands_on else None,
            data_sets=data_set_publishing(self.task_run, self.settings),
            outputs=[{"path": o.path, **({"url": o.url} if o.url else {})} for o in self.task_run.outputs],
            run_succeeded=run_state(context, self.run_task_id) == "success",
            data_set_versions=self.settings.data_set_versions,
            meta=names.meta,
        )
        outputs = phases.collect(spec, log=self.log.info, fs=artifact_store.filesystem(self.settings))
        fail_unless_run_succeeded(context, self.run_task_id, len(outputs["artifacts"]))
        return outputs


class LocalCleanupOperator(_LocalPhase):
    """Teardown: deletes the workspace, whatever happened before."""

    ui_color = "#eeeeee"

    def execute(self, context: Any) -> None:
        path = self.workspace(context)
        shutil.rmtree(path, ignore_errors=True)
        _prune_empty_parents(path, self.settings.workspace_root)
        self.log.info("removed workspace %s", path)


def _prune_empty_parents(path: str, root: str) -> None:
    """Remove the run's and DAG's folders once their last workspace is gone (other runs may still use them)."""
    parent = os.path.dirname(path)
    while os.path.abspath(parent).startswith(os.path.abspath(root) + os.sep):
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = os.path.dirname(parent)


def _uv_binary() -> str:
    found = shutil.which("uv") or os.path.join(os.path.dirname(sys.executable), "uv")
    if not os.path.exists(found):
        from uv import find_uv_bin

        found = find_uv_bin()
    return found


class LocalBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def phases(self, workflow: ir.Workflow, run: ir.TaskRun, plan: StepPlan) -> Phases:
        common: dict[str, Any] = {"plan": plan, "settings": self.settings, "task_run": run}
        run_op = LocalRunOperator(task_id="run", execution_timeout=execution_timeout(run), retries=run.retries or 0, **common)
        return Phases(
            workspace=LocalWorkspaceOperator(task_id="workspace", **common),
            provision=LocalProvisionOperator(task_id="provision", **common),
            run=run_op,
            collect=LocalCollectOperator(task_id="collect", run_task_id=run_op.task_id, outlets=list(plan.outlets),
                                         **common),
            cleanup=LocalCleanupOperator(task_id="cleanup", **common),
        )

