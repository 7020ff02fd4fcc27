"""The kubernetes backend: a step's operator creates its workspace PVC, then spawns the provisioning pod, the
executor pod and the collection pod over it one after the other (as TESK's taskmaster does for a TES task),
and deletes the pods and the PVC at the end whatever happened. In deferrable mode it defers on each pod.

A phase with nothing to do spawns no pod (see ``step.stages_anything`` / ``step.saves_anything``). The pods
themselves are KubernetesPodOperators built at run time (``k8s_phase_pods``); this module imports the
provider's pod operator only when a step runs, so parsing the DAG folder does not pay for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowTaskTimeout, TaskDeferred

from .. import ir
from ..config import Settings
from ..runtime import layout, notebook, store, workspace
from . import StepPlan, k8s_names, k8s_pods, notebook_task
from .inputs import check_inputs
from .step import RESULT_NOTE, STOPPED, TIMEOUT, RunNames, RunTeardownOperator, StepOperator, StepState

if TYPE_CHECKING:
    from .k8s_phase_pods import PhasePod, PodJob

RENDER_RUN_ID = "render"
NOTEBOOK_SCRIPT_NOTE = "notebook_script"
"""``StepState.notes`` key of a notebook step's run script (made once with the run's params, kept over deferrals)."""
NOTEBOOK_VERSION_NOTE = "notebook_version"
"""``StepState.notes`` key of the version of the notebook the run script was made from."""


def upload_project(folder: str, settings: Settings) -> str:
    """Publish a project folder once per content hash; returns its store URL (what provision pods fetch)."""
    from .. import artifact_store
    from ..runtime import publish

    dest = artifact_store.location(settings, project_url(folder, settings))
    if not publish.is_committed(dest):
        publish.publish(folder, workspace.walk_files(folder), dest)
    return dest.url


def project_url(folder: str, settings: Settings) -> str:
    return layout.project_url(settings.artifact_store, workspace.tree_digest(folder))


def core_api(settings: Settings) -> Any:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    return KubernetesHook(conn_id=settings.kubernetes_conn_id).core_v1_client


class KubernetesStepOperator(StepOperator):
    """One TaskRun as one PVC and up to three pods, spawned in order by this one task."""

    ui_color = "#dcfce7"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Fail at DAG build time, not in a pod: a bad secret name or a missing Vault role.
        k8s_pods.secret_env(self.task_run, self.settings)
        k8s_pods.vault_annotations(self.task_run, self.settings)

    _pod: PhasePod | None = None  # the phase pod of now (set at run time): for on_kill and failure lines
    _names: RunNames | None = None

    # --- names ---

    def claim(self, names: RunNames) -> str:
        return k8s_names.claim_name(names.dag_id, names.run_id, names.step, names.try_number)

    def labels(self, names: RunNames) -> dict[str, str]:
        return k8s_names.step_labels(names.dag_id, names.run_id, names.step, names.try_number)

    def core(self) -> Any:
        return core_api(self.settings)

    def pod_job(self, names: RunNames, state: StepState, *, rendering: bool = False) -> PodJob:
        from .k8s_phase_pods import PodJob

        return PodJob(
            plan=self.plan, settings=self.settings, task_run=self.task_run, names=names, claim=self.claim(names),
            project_url=state.notes.get("project_url"), execution_timeout=self.execution_timeout,
            with_store_options=not rendering, notebook_script=state.notes.get(NOTEBOOK_SCRIPT_NOTE),
        )

    def phase_pod(self, phase: str, job: PodJob) -> PhasePod:
        from dataclasses import replace

        from .k8s_phase_pods import POD_OF_PHASE

        if phase == "collect":  # partial outputs are saved even after the step's deadline
            job = replace(job, execution_timeout=None)
        return POD_OF_PHASE[phase](job=job)

    # --- the phases ---

    def phase_workspace(self, context: Any, state: StepState) -> None:
        check_inputs(self.task_run, context)  # a run created around Airflow's own validation: no PVC, no pod
        names = self._names = self.names(context)
        core = self.core()
        # A new try (retry, clear) starts fresh: what earlier tries of this step left goes first.
        mine = k8s_names.LABEL_TRY, str(names.try_number)
        delete_labelled(core, self.settings.namespace, k8s_names.run_labels(names.dag_id, names.run_id, names.step),
                        log=self.log.info, spare=lambda labels: labels.get(mine[0]) == mine[1])
        body = k8s_pods.pvc_manifest(self.settings, self.task_run, self.claim(names), self.labels(names))
        from kubernetes.client import ApiException

        try:
            core.create_namespaced_persistent_volume_claim(namespace=self.settings.namespace, body=body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.log.info("PVC %s exists already; reusing it", body["metadata"]["name"])
            return
        self.log.info("created PVC %s (%s)", body["metadata"]["name"], body["spec"]["resources"]["requests"]["storage"])

    def phase_provision(self, context: Any, state: StepState) -> None:
        folder = self.task_run.source.folder
        if folder:  # on the worker, once per content hash
            state.notes["project_url"] = upload_project(folder, self.settings)
            self.log.info("project %s is at %s", folder, state.notes["project_url"])
        self._start_pod("provision", context, state)

    def phase_run(self, context: Any, state: StepState) -> None:
        if isinstance(self.task_run.recipe, ir.NotebookRecipe):
            state.notes.update(self._notebook_notes(self.task_run.recipe, context["params"]))
        self._run_pod_then_result(lambda: self._start_pod("run", context, state), context, state)

    def _notebook_notes(self, recipe: ir.NotebookRecipe, params: Any) -> dict[str, str]:
        """The run pod's script and the notebook's version. The cells are picked on the worker from the
        project folder (the executor image has no nbformat) and the arguments are the run's params; the pod
        runs them with its own (or the image's) Python."""
        folder = self.task_run.source.folder
        if folder is None:
            raise AirflowException("a notebook task needs its project folder on the worker")
        prog = notebook_task.program(recipe, project_folder=folder, workspace=folder, params=params)
        self.log.info("notebook %s, version %s", recipe.notebook, prog.version)
        return {NOTEBOOK_SCRIPT_NOTE: notebook_task.pod_script(recipe, prog, self.settings),
                NOTEBOOK_VERSION_NOTE: prog.version}

    def _run_pod_then_result(self, run_pod: Callable[[], None], context: Any, state: StepState) -> None:
        """Run (or finish) the run pod; then a notebook step pushes what the local backend pushes: the version
        (also after a failure) as XCom ``notebook_version`` and the method's result as the step's
        ``return_value``, read back from the pod's log."""
        try:
            run_pod()
        except TaskDeferred:
            raise
        except BaseException:
            self._notebook_outcome(context, state, pod_succeeded=False)
            raise
        self._notebook_outcome(context, state, pod_succeeded=True)

    def _notebook_outcome(self, context: Any, state: StepState, *, pod_succeeded: bool) -> None:
        if not isinstance(self.task_run.recipe, ir.NotebookRecipe):
            return
        context["ti"].xcom_push(key=notebook_task.VERSION_XCOM_KEY, value=state.notes.get(NOTEBOOK_VERSION_NOTE))
        if not pod_succeeded:
            return  # ``explain`` names the notebook's error
        outcome = notebook.outcome(0, self._notebook_record())
        if not outcome.ok:
            raise AirflowException(outcome.error.splitlines()[0] if outcome.error else "the notebook task failed")
        state.notes[RESULT_NOTE] = outcome.result

    def _notebook_record(self) -> dict[str, Any] | None:
        return getattr(self._pod, "notebook_record", None)

    def phase_collect(self, context: Any, state: StepState) -> None:
        self._start_pod("collect", context, state)
        self._read_collected(context, state)

    def phase_cleanup(self, context: Any, state: StepState) -> None:
        names = self._names = self.names(context)
        delete_step_objects(self.core(), self.settings.namespace, self.claim(names), self.labels(names),
                            log=self.log.info)

    # --- pods ---

    def _start_pod(self, phase: str, context: Any, state: StepState) -> None:
        from dataclasses import replace

        job = replace(self.pod_job(self.names(context), state), params=dict(context.get("params") or {}),
                      run_succeeded=state.failure is None)
        pod = self._pod = self.phase_pod(phase, job)
        try:
            pod.start(context)
        except TaskDeferred as deferred:
            raise self._defer_step(deferred, phase, context, state) from None

    def resume_work(self, phase: str, context: Any, state: StepState, event: Any) -> None:
        names = self._names = self.names(context)
        pod = self._pod = self.phase_pod(phase, self.pod_job(names, state))
        try:
            if phase == "run":
                self._run_pod_then_result(lambda: pod.finish(context, event), context, state)
            else:
                pod.finish(context, event)
        except TaskDeferred as deferred:  # the provider re-defers, e.g. on a trigger error while the pod runs
            raise self._defer_step(deferred, phase, context, state) from None
        except Exception as exc:
            if _deadline_passed(event):
                raise AirflowTaskTimeout(str(exc)) from exc  # the step's deadline, not a pod that never started
            raise
        if phase == "collect":
            self._read_collected(context, state)

    def _defer_step(self, deferred: TaskDeferred, phase: str, context: Any, state: StepState) -> TaskDeferred:
        """The pod's deferral, resumed by this step (``resume_phase``) instead of the pod operator. Where the
        step was travels in the trigger's event (``airflow dags test`` drops a deferral's own kwargs)."""
        from .k8s_phase_pods import StepPodTrigger

        trigger = StepPodTrigger.around(
            deferred.trigger,
            claim=self.claim(self.names(context)),
            resume={"phase": phase, "state": state.to_kwargs()},
        )
        return TaskDeferred(trigger=trigger, method_name="resume_phase", timeout=deferred.timeout)

    def _read_collected(self, context: Any, state: StepState) -> None:
        import json

        url = k8s_pods.collected_url(self.names(context).exchange_url)
        try:
            from .. import artifact_store

            outputs = json.loads(store.read_bytes(artifact_store.location(self.settings, url)))
            state.collected = outputs["artifacts"]
            context["ti"].xcom_push(key="output_manifest", value=outputs)
        except (OSError, ValueError) as exc:  # the outputs are saved; only their list is missing
            self.log.warning("could not read the list of saved files at %s: %s", url, exc)

    def explain(self, phase: str, exc: BaseException, kind: str) -> str:
        if kind == TIMEOUT:
            return super().explain(phase, exc, kind) + "; its pod was deleted"
        if kind == STOPPED or self._pod is None or phase not in ("provision", "run", "collect"):
            return super().explain(phase, exc, kind)
        deepest = exc
        while deepest.__cause__ or deepest.__context__:
            deepest = deepest.__cause__ or deepest.__context__  # type: ignore[assignment]
        record = self._notebook_record() if phase == "run" else None
        if record is not None and record.get("status") != "ok":  # the notebook's own error, as locally
            return notebook.outcome(1, record).error.splitlines()[0]
        return self._pod.failure_line(deepest)

    def stop_now(self) -> None:
        # A pod runs (sync mode): delete it, then everything of this try.
        if self._pod is not None:
            self._pod.on_kill()
        if self._names is not None:
            delete_step_objects(self.core(), self.settings.namespace, self.claim(self._names),
                                self.labels(self._names), log=self.log.info)

    # --- render ---

    def manifests(self, run_id: str = RENDER_RUN_ID) -> dict[str, Any]:
        """The PVC and the pods this step would create (a phase with nothing to do has none), as manifests."""
        names = RunNames(self.plan.dag_id, run_id, self.plan.step, 1, self.settings)
        state = StepState()
        if self.task_run.source.folder:
            state.notes["project_url"] = project_url(self.task_run.source.folder, self.settings)
        if isinstance(self.task_run.recipe, ir.NotebookRecipe):  # with the params' defaults
            state.notes.update(self._notebook_notes(self.task_run.recipe, self.dag.params.dump()))
        job = self.pod_job(names, state, rendering=True)
        found: dict[str, Any] = {
            "step": self.plan.step,
            "pvc": k8s_pods.pvc_manifest(self.settings, self.task_run, job.claim, self.labels(names)),
        }
        for phase in ("provision", "run", "collect"):
            if self.wants(phase):
                found[phase] = self.phase_pod(phase, job).manifest()
        return found


def _deadline_passed(event: dict[str, Any] | None) -> bool:
    """A pod trigger's "timeout" is the step's deadline (not a pod that never started) when the deadline the
    trigger was given, which its events carry, has passed."""
    deadline = (event or {}).get("_execution_deadline")
    return (event or {}).get("status") == "timeout" and deadline is not None and time.time() >= float(deadline)


def delete_labelled(
    core: Any,
    namespace: str,
    wanted: dict[str, str],
    log: Callable[..., None] = print,
    spare: Callable[[dict[str, str]], bool] = lambda labels: False,
) -> list[str]:
    """Delete the pods, then the PVCs, that carry ``wanted`` (checked here too: some fake API servers ignore
    label selectors), except those ``spare`` keeps. Returns ``kind/name`` of what was deleted."""
    gone: list[str] = []
    kinds = (
        ("pod", core.list_namespaced_pod, core.delete_namespaced_pod),
        ("PVC", core.list_namespaced_persistent_volume_claim, core.delete_namespaced_persistent_volume_claim),
    )
    for kind, lister, deleter in kinds:
        for obj in lister(namespace=namespace, label_selector=k8s_names.selector(wanted)).items:
            labels = obj.metadata.labels or {}
            if not k8s_names.matches(labels, wanted) or spare(labels):
                continue
            if _delete(deleter, name=obj.metadata.name, namespace=namespace):
                log(f"deleted leftover {kind} {obj.metadata.name}")
                gone.append(f"{kind}/{obj.metadata.name}")
    return gone


def delete_step_objects(
    core: Any, namespace: str, claim: str, labels: dict[str, str], log: Callable[..., None] = print
) -> None:
    """This try's pods (a dead worker may have left one running) and its PVC; 404s are fine."""
    pods = core.list_namespaced_pod(namespace=namespace, label_selector=k8s_names.selector(labels)).items
    for pod in pods:
        if k8s_names.matches(pod.metadata.labels, labels) and _delete(
            core.delete_namespaced_pod, name=pod.metadata.name, namespace=namespace
        ):
            log(f"deleted leftover pod {pod.metadata.name}")
    if _delete(core.delete_namespaced_persistent_volume_claim, name=claim, namespace=namespace):
        log(f"deleted PVC {claim}")
    else:
        log(f"PVC {claim} was already gone")


def _delete(call: Any, **kwargs: Any) -> bool:
    from kubernetes.client import ApiException

    try:
        call(**kwargs)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


class KubernetesRunTeardownOperator(RunTeardownOperator):
    """Deletes every pod and PVC labelled with this DAG run that a step left behind."""

    def execute(self, context: Any) -> list[str]:
        labels = k8s_names.dag_run_labels(self.dag_id_of_steps, str(context["run_id"]))
        gone = delete_labelled(core_api(self.settings), self.settings.namespace, labels, log=self.log.warning)
        self.log.info("nothing of this run is left in namespace %s (%d leftover(s) deleted)",
                      self.settings.namespace, len(gone))
        return gone


class KubernetesBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def step(self, workflow: ir.Workflow, run: ir.TaskRun, plan: StepPlan) -> KubernetesStepOperator:
        return KubernetesStepOperator(plan=plan, settings=self.settings, task_run=run)

    def run_teardown(self, workflow: ir.Workflow, task_id: str) -> KubernetesRunTeardownOperator:
        return KubernetesRunTeardownOperator(task_id=task_id, dag_id=workflow.dag_id, settings=self.settings)
