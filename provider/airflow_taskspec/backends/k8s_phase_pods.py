"""The pods one step's operator spawns, one after the other: provisioning (filer), executor, collection (filer).

Each is a KubernetesPodOperator built at run time inside the step's task, never part of a DAG: the provider's
pod lifecycle (creation, startup and scheduling timeouts, image pull failures, log following, the deferrable
trigger and its execution deadline, deletion when done, ``on_kill``) is reused as it is; the step operator
(``kubernetes.py``) only puts the phases in order. Pod contents come from ``k8s_pods`` (pure), names and
labels from ``k8s_names``, failure lines from ``k8s_failures``. Pods never restart: retries are Airflow's.

Importing this module costs the KubernetesPodOperator's import (~3 s): only a running step does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.triggers.pod import KubernetesPodTrigger
from kubernetes.client import ApiClient, ApiException
from kubernetes.client import models as k8s

from .. import ir, recipes
from ..config import Settings
from . import StepPlan, k8s_failures, k8s_names, k8s_pods, notebook_task
from .inputs import input_env, input_staging
from .step import RESUME_KEY, RunNames
from .storage import data_set_publishing, data_set_staging, store_options

NOTEBOOK_LOG_TAIL_LINES = 20
"""How much of a notebook pod's log end is read back for its result line (the script's last line)."""


@dataclass(frozen=True)
class PodJob:
    """Everything a phase pod is made from (the same for every phase of one try of one step)."""

    plan: StepPlan
    settings: Settings
    task_run: ir.TaskRun
    names: RunNames
    claim: str
    project_url: str | None = None
    execution_timeout: timedelta | None = None  # the step's: the trigger's deadline in deferrable mode
    with_store_options: bool = True  # False for `taskspec render` (no Airflow connection needed)
    notebook_script: str | None = None  # a notebook entry point's run script, made on the worker with the params
    params: dict[str, Any] = field(default_factory=dict)  # the run's values of the typed inputs
    run_succeeded: bool = False  # collect publishes data-set versions only after a successful run


class PhasePod(KubernetesPodOperator):
    """One phase's pod over the step's workspace PVC, with taskspec labels (step, try, phase)."""

    template_fields: Sequence[str] = ()
    phase = ""

    def __init__(self, *, job: PodJob, **kwargs: Any) -> None:
        settings = job.settings
        kwargs.setdefault("env_from", self._env_from(settings))
        super().__init__(
            task_id=f"{job.plan.step}.{self.phase}",
            kubernetes_conn_id=settings.kubernetes_conn_id,
            namespace=settings.namespace,
            name=k8s_names.pod_base_name(job.plan.step, self.phase),
            image_pull_policy=settings.image_pull_policy,
            service_account_name=settings.service_account or None,
            node_selector=dict(settings.node_selector),
            tolerations=list(settings.tolerations),
            security_context=k8s_pods.pod_security_context(settings),
            container_security_context=k8s_pods.container_security_context(),
            startup_timeout_seconds=settings.startup_timeout_seconds,
            startup_check_interval_seconds=settings.pod_poll_interval,  # type: ignore[arg-type]
            poll_interval=settings.pod_poll_interval,
            base_container_status_polling_interval=settings.pod_poll_interval,
            deferrable=settings.deferrable,
            on_finish_action="delete_pod",
            # Three pods share one task instance: never look for "this task's pod" in the task state store.
            durable=False,
            log_pod_spec_on_failure=False,
            log_events_on_failure=True,
            do_xcom_push=False,
            execution_timeout=job.execution_timeout,
            **kwargs,
        )
        self.job = job
        self._last_pod: Any = None

    def _env_from(self, settings: Settings) -> list[k8s.V1EnvFromSource]:
        return []

    # --- the pod ---

    def configure(self) -> None:
        """Set image, command, env, volumes... on ``self`` (subclasses)."""
        raise NotImplementedError

    def mount_data_sets(self) -> None:
        """The shared data-set volume, read-only, where the workspace's data-set links point."""
        for volume, mount in k8s_pods.data_set_volume(self.job.task_run, self.job.settings):
            self.volumes.append(volume)
            self.volume_mounts.append(mount)

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> k8s.V1Pod:
        job = self.job
        volume, mount = k8s_pods.workspace_volume(job.claim)
        self.labels = {
            **k8s_names.step_labels(job.names.dag_id, job.names.run_id, job.names.step, job.names.try_number),
            k8s_names.LABEL_PHASE: self.phase,
        }
        self.volumes = [volume]
        self.volume_mounts = [mount]
        self.configure()
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        pod.spec.containers[0].working_dir = k8s_pods.WORKSPACE
        k8s_pods.keep_as_written(list(pod.spec.init_containers or []) + list(pod.spec.containers))
        return pod

    def manifest(self) -> dict[str, Any]:
        """The pod as a manifest, without a cluster (``taskspec render``)."""
        return dict(ApiClient().sanitize_for_serialization(self.build_pod_request_obj(dry_run=True)))

    # --- run it ---

    def start(self, context: Any) -> None:
        """Run the pod to its end, or (deferrable) create it and raise TaskDeferred."""
        self.name = self._set_name(self.name)
        if self.deferrable:
            self.execute_async(context)
        else:
            self.execute_sync(context)

    def finish(self, context: Any, event: dict[str, Any]) -> None:
        """Back from the trigger (deferrable): logs, deletion, and the pod's outcome."""
        self.trigger_reentry(context, event)

    # --- failures in one line ---

    def cleanup(
        self,
        pod: k8s.V1Pod,
        remote_pod: k8s.V1Pod,
        xcom_result: dict[str, Any] | None = None,
        context: Any = None,
    ) -> None:
        # The pod is about to be deleted: keep its last status to explain a failure.
        self._last_pod = remote_pod
        target = remote_pod or pod
        if target is not None and target.metadata is not None:
            self.before_deletion(target.metadata.name, target.metadata.namespace)
            try:
                self._last_pod = self.client.read_namespaced_pod(target.metadata.name, target.metadata.namespace)
            except ApiException as exc:  # best effort; the status we had is still useful
                self.log.debug("could not re-read pod %s: %s", target.metadata.name, exc)
        super().cleanup(pod=pod, remote_pod=remote_pod, xcom_result=xcom_result, context=context)

    def before_deletion(self, name: str, namespace: str) -> None:
        """What a phase reads from its finished pod before the provider deletes it (subclasses)."""

    def failure_line(self, error: BaseException) -> str:
        pod = ApiClient().sanitize_for_serialization(self._last_pod) if self._last_pod is not None else None
        return k8s_failures.failure_reason(
            pod, container=self.base_container_name, startup_timeout=self.startup_timeout_seconds, error=str(error),
            phase=self.phase,
        )


class FilerPod(PhasePod):
    def __init__(self, **kwargs: Any) -> None:
        # The log's last lines become the container's termination message: the filer's one-line error.
        kwargs.setdefault("termination_message_policy", "FallbackToLogsOnError")
        super().__init__(**kwargs)

    def _env_from(self, settings: Settings) -> list[k8s.V1EnvFromSource]:
        if not settings.artifact_secret:
            return []
        return [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=settings.artifact_secret))]

    def filer_volumes(self) -> None:
        for volume, mount in k8s_pods.store_volume(self.job.settings):
            self.volumes.append(volume)
            self.volume_mounts.append(mount)
        self.image = self.job.settings.filer_image
        self.container_resources = k8s_pods.default_resources(self.job.settings)

    def pod_store_options(self) -> dict[str, Any]:
        """fsspec options for pods: the connection's endpoint, never its keys (those come from artifact_secret)."""
        if not self.job.with_store_options:
            return {}
        options = store_options(self.job.settings)
        options.pop("key", None)
        options.pop("secret", None)
        return options


class ProvisionPod(FilerPod):
    """Project files (store copy, git ref or none), earlier steps' outputs and data sets."""

    phase = "provision"

    def configure(self) -> None:
        job = self.job
        self.filer_volumes()
        spec = {
            "workspace": k8s_pods.WORKSPACE,
            "project_url": job.project_url,
            "upstream_outputs": job.names.earlier_outputs(job.plan),
            "data_sets": data_set_staging(job.task_run, job.settings),
            "store_options": self.pod_store_options(),
            # The executor pod does not mount the store, so a link would dangle there: copy, unless the
            # store's shared volume is mounted into it (data_set_volume_claim): then link into that.
            "data_sets_by_reference": False,
            **k8s_pods.data_sets_mounted(job.task_run, job.settings),
            "inputs": input_staging(job.task_run, {"params": job.params}),  # rendered: the defaults
        }
        self.cmds = k8s_pods.filer_command("provision", spec)
        self.init_containers = (
            [k8s_pods.git_init_container(job.task_run, job.settings, self.volume_mounts[0])]
            if job.task_run.source.git_url
            else []
        )


class RunPod(PhasePod):
    """The executor: the recipe for the executor kind, then the command."""

    phase = "run"

    def configure(self) -> None:
        job = self.job
        run, names = job.task_run, job.names
        self.image = k8s_pods.executor_image(run, job.settings)
        if isinstance(run.recipe, ir.NotebookRecipe):
            if job.notebook_script is None:
                raise ValueError("a notebook step's run pod needs the script made by the step (notebook_script)")
            self.image = notebook_task.pod_image(run.recipe, job.settings) or self.image
            self.cmds = ["bash", "-c", f"cd {k8s_pods.WORKSPACE}\n" + job.notebook_script]
        else:
            self.cmds = ["bash", "-c", k8s_pods.run_script(run, job.settings)]
        self.env_vars = (
            k8s_pods.provided_env(names.dag_id, names.run_id, names.step, names.artifact_url)
            + [k8s.V1EnvVar(name=n, value=v) for n, v in input_env(run, {"params": job.params}).items()]
            + [k8s.V1EnvVar(name=e.name, value=e.value) for e in run.env]
            + k8s_pods.secret_env(run, job.settings)
        )
        self.container_resources = k8s_pods.run_resources(run, job.settings)
        self.annotations = k8s_pods.vault_annotations(run, job.settings)
        self.mount_data_sets()
        self.active_deadline_seconds = run.timeout_seconds

    notebook_record: dict[str, Any] | None = None
    """A notebook step's result record, read back from the pod's log before the pod is deleted."""

    def before_deletion(self, name: str, namespace: str) -> None:
        if isinstance(self.job.task_run.recipe, ir.NotebookRecipe):
            self.notebook_record = self._read_notebook_record(name, namespace)

    def _read_notebook_record(self, name: str, namespace: str) -> dict[str, Any] | None:
        """The script prints the record as its last line (``recipes.RESULT_MARKER``); the log is read again
        here, as the pod operator streams it to the task log without keeping it."""
        try:
            # Raw bytes: the client's "str" answer would be the repr of the bytes.
            response = self.client.read_namespaced_pod_log(name, namespace, container=self.base_container_name,
                                                           tail_lines=NOTEBOOK_LOG_TAIL_LINES,
                                                           _preload_content=False)
            text = response.data.decode("utf-8", errors="replace")
            response.release_conn()
        except ApiException as exc:
            self.log.warning("could not read the log of pod %s for the notebook's result: %s", name, exc)
            return None
        try:
            return recipes.notebook_result(text.splitlines())
        except ValueError as exc:  # a cut or garbled line
            self.log.warning("the notebook's result line in the log of pod %s is not JSON: %s", name, exc)
            return None


class CollectPod(FilerPod):
    """Artifacts and outputs (also after a failed command); the list of saved files goes to the store."""

    phase = "collect"

    def configure(self) -> None:
        job = self.job
        self.filer_volumes()
        self.mount_data_sets()  # the links in the workspace resolve here too
        spec = {
            "workspace": k8s_pods.WORKSPACE,
            "artifact_url": job.names.artifact_url,
            "artifact_paths": list(job.task_run.artifacts.paths),
            "save_changed_files": job.task_run.artifacts.save_changed_files,
            "exchange_url": job.names.exchange_url if job.plan.hands_on else None,
            "data_sets": data_set_publishing(job.task_run, job.settings),
            "store_options": self.pod_store_options(),
            "outputs": [{"path": o.path, **({"url": o.url} if o.url else {})} for o in job.task_run.outputs],
            "run_succeeded": job.run_succeeded,
            "data_set_versions": job.settings.data_set_versions,
            "meta": job.names.meta,
        }
        self.cmds = k8s_pods.filer_command("collect", spec, k8s_pods.collected_url(job.names.exchange_url))


POD_OF_PHASE: dict[str, type[PhasePod]] = {"provision": ProvisionPod, "run": RunPod, "collect": CollectPod}


class StepPodTrigger(KubernetesPodTrigger):
    """The provider's pod trigger, plus the step: its events carry where the step was (``RESUME_KEY``), and a
    user who marks a deferred step failed gets its pod deleted (the provider does that) and its PVC too,
    instead of waiting for the run's teardown."""

    def __init__(self, *, workspace_claim: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workspace_claim = workspace_claim

    @classmethod
    def around(cls, trigger: KubernetesPodTrigger, *, claim: str, resume: dict[str, Any]) -> StepPodTrigger:
        _, kwargs = trigger.serialize()
        kwargs["trigger_kwargs"] = {**(kwargs.get("trigger_kwargs") or {}), RESUME_KEY: resume}
        return cls(workspace_claim=claim, **kwargs)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{type(self).__module__}.{type(self).__qualname__}", {**kwargs, "workspace_claim": self.workspace_claim}

    async def on_kill(self) -> None:
        await super().on_kill()
        if self._fired_event:
            return
        from kubernetes_asyncio import client as async_client

        try:
            async with self.hook.get_conn() as api:
                await async_client.CoreV1Api(api).delete_namespaced_persistent_volume_claim(
                    name=self.workspace_claim, namespace=self.pod_namespace
                )
            self.log.info("Deleted PVC %s", self.workspace_claim)
        except Exception:  # the run's teardown deletes it later
            self.log.exception("could not delete PVC %s", self.workspace_claim)
