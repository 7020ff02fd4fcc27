"""The local backend: a step's phases as a folder and processes on the worker, inside its one Airflow task.

The workspace is removed whatever happens: after the phases, and in ``on_kill`` (the task marked failed or
cleared, or timed out), which stops the command's whole process group first.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from airflow.sdk.exceptions import AirflowException

from .. import ir, recipes
from ..config import Settings
from ..runtime import layout, processes
from . import StepPlan, secrets
from .inputs import input_env, input_staging
from .step import RESULT_NOTE, RunTeardownOperator, StepOperator, StepState
from .storage import data_set_publishing, data_set_staging

STOP_GRACE_SECONDS = 10

# What only a running step needs (the phases, the artifact store's filesystem, the notebook runner) is imported
# by the method that runs it: the DAG processor imports this module on every parse, and builds no phase.

# Between a command's start and its recording in ``_process`` there is a moment when ``on_kill`` cannot see
# it. Starting and recording happen under this lock, and ``on_kill`` reads ``_process`` under it: from another
# thread it waits until the command is recorded; from Airflow's SIGTERM handler (this thread, so the lock is
# re-entrant) it may find none, and then the run phase stops the command right after recording it, because
# ``on_kill`` set ``_stopped`` before looking.
_STARTING = threading.RLock()

# What user code sees of the worker's environment without being configured: what a shell, locale, time,
# temporary files and network (proxies, CA certificates) need, and nothing of Airflow's own (the metadata
# database URL, Fernet and JWT secrets, AIRFLOW_CONN_* live there). `[taskspec] env_passthrough` adds more.
WORKER_ENV_ALLOWED = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR", "TEMP", "TMP",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
)


class LocalStepOperator(StepOperator):
    """One TaskRun as folders and processes on the worker."""

    _process: subprocess.Popen[bytes] | None = None  # the command, while it runs
    _workspace: str | None = None  # this try's folder, once made

    def workspace(self, context: Any) -> str:
        return layout.workspace_dir(self.settings.workspace_root, self.plan.dag_id, context["run_id"], self.plan.step)

    def phase_workspace(self, context: Any, state: StepState) -> None:
        path = self._workspace = self.workspace(context)
        if os.path.exists(path):  # a retry or a cleared run starts clean
            shutil.rmtree(path)
        os.makedirs(path)
        self.log.info("workspace %s", path)

    def phase_provision(self, context: Any, state: StepState) -> None:
        from .. import artifact_store
        from ..runtime import phases

        spec = phases.ProvisionSpec(
            workspace=self.workspace(context),
            project_url=self.task_run.source.folder,
            upstream_outputs=self.names(context).earlier_outputs(self.plan),
            data_sets=data_set_staging(self.task_run, self.settings),
            inputs=input_staging(self.task_run, context),
        )
        phases.provision(spec, log=self.log.info, fs=artifact_store.filesystem(self.settings))

    def environment(self, context: Any, workspace: str) -> dict[str, str]:
        names = self.names(context)
        env = worker_environment(dict(os.environ), self.settings.env_passthrough)
        env.update({
            "TASKSPEC_WORKSPACE": workspace,
            "TASKSPEC_DAG_ID": names.dag_id,
            "TASKSPEC_RUN_ID": names.run_id,
            "TASKSPEC_TASK": names.step,
            "TASKSPEC_ARTIFACT_URL": names.artifact_url,
            "TASKSPEC_UV": _uv_binary(),
        })
        env.update(input_env(self.task_run, context))
        env.update({var.name: var.value for var in self.task_run.env})
        env.update(secrets.resolve(self.task_run.secrets, self.settings))
        return env

    def phase_run(self, context: Any, state: StepState) -> None:
        workspace = self.workspace(context)
        recipe = self.task_run.recipe
        if isinstance(recipe, ir.NotebookRecipe):
            self._run_notebook(context, state, workspace, recipe)
            return
        version = recipe.python_version or self.settings.default_python_version
        script = recipes.script(recipe, python_version=version, env_cache_dir=self.settings.env_cache_dir)
        self.log.info("running in %s:\n%s", workspace, script)
        env = self.environment(context, workspace)
        process = self._start(lambda: subprocess.Popen(
            ["bash", "-c", script], cwd=workspace, env=env,
            # stdin is nothing: the worker's own stdin is not the command's to read (`read` gets EOF at once).
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        ))
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                self.log.info("%s", raw.decode(errors="replace").rstrip("\n"))
            code = process.wait()
        except BaseException:  # a timeout (or anything) while it runs: its whole process group goes first
            self._stop_command()
            raise
        finally:
            self._process = None
        if code < 0:
            raise AirflowException(f"the command was killed by signal {-code}")
        if code != 0:
            raise AirflowException(f"the command exited with code {code}")
        self.log.info("the command exited with code 0")

    def _run_notebook(self, context: Any, state: StepState, workspace: str, recipe: ir.NotebookRecipe) -> None:
        """A PEACH entry point: the environment (built once, then reused), then ``method(**args)`` in it; its
        JSON result becomes the step's XCom ``return_value``, the notebook's version XCom ``notebook_version``."""
        from ..runtime import notebook
        from . import notebook_task

        python = notebook_task.local_python(recipe, self.settings, uv=_uv_binary(), log=self.log.info)
        prog = notebook_task.program(recipe, project_folder=self.task_run.source.folder or workspace,
                                     workspace=workspace, params=context["params"])
        self.log.info("notebook %s, version %s", recipe.notebook, prog.version)
        env = self.environment(context, workspace)
        process = self._start(lambda: notebook.start(prog, python=python, workspace=workspace, env=env))
        try:
            outcome = notebook.finish(process, workspace, log=lambda line: self.log.info("%s", line))
        except BaseException:  # a timeout (or anything) while it runs: its whole process group goes first
            self._stop_command()
            raise
        finally:
            self._process = None
        values = notebook_task.result_for_xcom(prog, outcome.result)
        context["ti"].xcom_push(key=notebook_task.VERSION_XCOM_KEY, value=values[notebook_task.VERSION_XCOM_KEY])
        if not outcome.ok:
            raise AirflowException(outcome.error.splitlines()[0] if outcome.error else "the notebook task failed")
        state.notes[RESULT_NOTE] = values["return_value"]

    def phase_collect(self, context: Any, state: StepState) -> None:
        from .. import artifact_store
        from ..runtime import phases

        names = self.names(context)
        spec = phases.CollectSpec(
            workspace=self.workspace(context),
            artifact_url=names.artifact_url,
            artifact_paths=list(self.task_run.artifacts.paths),
            save_changed_files=self.task_run.artifacts.save_changed_files,
            exchange_url=names.exchange_url if self.plan.hands_on else None,
            data_sets=data_set_publishing(self.task_run, self.settings),
            outputs=[{"path": o.path, **({"url": o.url} if o.url else {})} for o in self.task_run.outputs],
            run_succeeded=state.failure is None,  # collect runs after a failed run too; publish only after success
            data_set_versions=self.settings.data_set_versions,
            meta=names.meta,
        )
        outputs = phases.collect(spec, log=self.log.info, fs=artifact_store.filesystem(self.settings))
        state.collected = outputs["artifacts"]
        context["ti"].xcom_push(key="output_manifest", value=outputs)

    def phase_cleanup(self, context: Any, state: StepState) -> None:
        path = self.workspace(context)
        remove_workspace(path, self.settings.workspace_root)
        self.log.info("removed workspace %s", path)

    def stop_now(self) -> None:
        # The whole process group, not only bash; then the folder.
        self._stop_command()
        if self._workspace is not None:
            remove_workspace(self._workspace, self.settings.workspace_root)
            self.log.info("removed workspace %s", self._workspace)

    def _start(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        """Start the command in its own process group and record it where ``on_kill`` finds it."""
        with _STARTING:
            process = self._process = start()
        if self._stopped:  # on_kill ran while the command started, and could not see it
            self._stop_command()
        return process

    def _stop_command(self) -> None:
        with _STARTING:
            process = self._process
        if process is None or process.poll() is not None:
            return
        # TERM to the process group, KILL after the grace period; returns when the whole group has exited.
        processes.stop(process, STOP_GRACE_SECONDS)
        self.log.info("stopped the command's process group %s", process.pid)


def worker_environment(worker: dict[str, str], passthrough: tuple[str, ...]) -> dict[str, str]:
    """The part of the worker's environment that user code may see: the allow-list and the configured
    pass-through names (shell patterns, case-sensitive like the environment itself)."""
    patterns = WORKER_ENV_ALLOWED + passthrough
    return {name: value for name, value in worker.items()
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)}


# The step's own cleanup and ``on_kill`` may remove one workspace at once (on_kill from another thread). Two
# concurrent ``rmtree`` calls each skip what the other deleted, and the one that finishes first can return while
# the other has the folder half-removed, its parents not yet pruned. Removing under this lock makes every
# removal complete when it returns. Re-entrant: Airflow's SIGTERM handler may call on_kill in the thread that
# is removing the folder already.
_REMOVING = threading.RLock()


def remove_workspace(path: str, root: str) -> None:
    """Delete a try's folder, and its run's and DAG's folders once empty; complete when it returns."""
    with _REMOVING:
        shutil.rmtree(path, ignore_errors=True)
        _prune_empty_parents(path, root)


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


class LocalRunTeardownOperator(RunTeardownOperator):
    """Removes every workspace of this DAG run that a step left behind."""

    def execute(self, context: Any) -> list[str]:
        root = self.settings.workspace_root
        run_dir = os.path.dirname(layout.workspace_dir(root, self.dag_id_of_steps, context["run_id"], "_"))
        left = sorted(os.listdir(run_dir)) if os.path.isdir(run_dir) else []
        for name in left:
            self.log.warning("removing leftover workspace %s", os.path.join(run_dir, name))
        remove_workspace(run_dir, root)
        self.log.info("nothing of this run is left in %s", root)
        return left


class LocalBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def step(self, workflow: ir.Workflow, run: ir.TaskRun, plan: StepPlan) -> LocalStepOperator:
        return LocalStepOperator(plan=plan, settings=self.settings, task_run=run)

    def run_teardown(self, workflow: ir.Workflow, task_id: str) -> LocalRunTeardownOperator:
        return LocalRunTeardownOperator(task_id=task_id, dag_id=workflow.dag_id, settings=self.settings)
