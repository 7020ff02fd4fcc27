"""The kubernetes backend: one PVC and three pods per TaskRun, on top of the cncf-kubernetes provider.

workspace (setup) creates the PVC; provision, run and collect are KubernetesPodOperators (filer, executor,
filer) that mount it; cleanup (teardown) deletes this run's pods and the PVC whatever happened before.
Pod contents come from ``k8s_pods`` (pure), names and labels from ``k8s_names``, failure lines from
``k8s_failures``. Retries are Airflow's: pods never restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import TriggerRule
from airflow.sdk.exceptions import AirflowException, AirflowTaskTimeout
from kubernetes.client import ApiClient, ApiException
from kubernetes.client import models as k8s

from .. import artifact_store, ir
from ..config import Settings
from ..runtime import layout, publish, store, workspace
from . import Phases, StepPlan, k8s_failures, k8s_names, k8s_pods
from .phases import (
    RunNames,
    TaskRunOperator,
    data_set_publishing,
    data_set_staging,
    execution_timeout,
    fail_unless_run_succeeded,
    input_env,
    input_staging,
    run_state,
)

RENDER_RUN_ID = "render"


def _run_id(context: Any, fallback: str) -> str:
    return str(context["run_id"]) if context else fallback


def pod_store_options(settings: Settings) -> dict[str, Any]:
    """fsspec options for pods: the store's endpoint and such, never its keys (those come from artifact_secret)."""
    return artifact_store.pod_options(artifact_store.filesystem(settings))


def upload_project(folder: str, settings: Settings) -> str:
    """Publish a project folder once per content hash; returns its store URL (what provision pods fetch)."""
    dest = artifact_store.location(settings, layout.project_url(settings.artifact_store, workspace.tree_digest(folder)))
    if not publish.is_committed(dest):
        publish.publish(folder, workspace.walk_files(folder), dest)
    return dest.url


class TaskspecPodOperator(KubernetesPodOperator):
    """A KubernetesPodOperator whose pod comes from a TaskRun: the workspace PVC, taskspec labels, fsGroup."""

    # User text (commands, env values) must never go through Jinja: nothing here is templated.
    template_fields: Sequence[str] = ()
    phase = ""

    def __init__(self, *, plan: StepPlan, settings: Settings, task_run: ir.TaskRun, **kwargs: Any) -> None:
        kwargs.setdefault("env_from", self._env_from(settings))
        super().__init__(
            kubernetes_conn_id=settings.kubernetes_conn_id,
            namespace=settings.namespace,
            name=k8s_names.pod_base_name(plan.group_id, self.phase),
            image_pull_policy=settings.image_pull_policy,
            service_account_name=settings.service_account or None,
            node_selector=dict(settings.node_selector),
            tolerations=list(settings.tolerations),
            security_context=k8s.V1PodSecurityContext(fs_group=settings.fs_group),
            startup_timeout_seconds=settings.startup_timeout_seconds,
            startup_check_interval_seconds=settings.pod_poll_interval,  # type: ignore[arg-type]
            poll_interval=settings.pod_poll_interval,
            base_container_status_polling_interval=settings.pod_poll_interval,
            deferrable=settings.deferrable,
            on_finish_action="delete_pod",
            log_pod_spec_on_failure=False,
            log_events_on_failure=True,
            do_xcom_push=False,
            **kwargs,
        )
        self.plan = plan
        self.settings = settings
        self.task_run = task_run
        self.render_run_id = RENDER_RUN_ID
        self._last_pod: Any = None

    def _env_from(self, settings: Settings) -> list[k8s.V1EnvFromSource]:
        return []

    # --- the pod ---

    def names(self, context: Any) -> RunNames:
        return RunNames(
            self.plan.dag_id, _run_id(context, self.render_run_id), self.plan.group_id, self.settings
        )

    def labels_for(self, names: RunNames) -> dict[str, str]:
        return {
            **k8s_names.run_labels(names.dag_id, names.run_id, names.step),
            k8s_names.LABEL_PHASE: self.phase,
        }

    def claim(self, names: RunNames) -> str:
        return k8s_names.claim_name(names.dag_id, names.run_id, names.step)

    def configure(self, names: RunNames, context: Any) -> None:
        """Set image, command, env, volumes... on ``self`` for this run (subclasses)."""
        raise NotImplementedError

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> k8s.V1Pod:
        names = self.names(context)
        volume, mount = k8s_pods.workspace_volume(self.claim(names))
        self.labels = self.labels_for(names)
        self.volumes = [volume]
        self.volume_mounts = [mount]
        self.configure(names, context)
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        pod.spec.containers[0].working_dir = k8s_pods.WORKSPACE
        return pod

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
            try:
                self._last_pod = self.client.read_namespaced_pod(
                    target.metadata.name, target.metadata.namespace
                )
            except ApiException as exc:  # best effort; the status we had is still useful
                self.log.debug("could not re-read pod %s: %s", target.metadata.name, exc)
        super().cleanup(pod=pod, remote_pod=remote_pod, xcom_result=xcom_result, context=context)

    def explain(self, exc: BaseException) -> BaseException:
        chain: list[BaseException] = []
        seen: BaseException | None = exc
        while seen is not None and seen not in chain:
            chain.append(seen)
            seen = seen.__cause__ or seen.__context__
        # The KubernetesPodOperator's cleanup may raise over the original error: look down the whole chain.
        if any(isinstance(e, AirflowTaskTimeout) or "execution_timeout deadline" in str(e) for e in chain):
            line = (
                f"taskspec: {self.phase} failed: deadline exceeded: the step ran longer than its timeout "
                f"({self.execution_timeout}); its pod was deleted"
            )
            self.log.error("%s", line)
            return AirflowTaskTimeout(line)
        pod = ApiClient().sanitize_for_serialization(self._last_pod) if self._last_pod is not None else None
        reason = k8s_failures.failure_reason(
            pod,
            container=self.base_container_name,
            startup_timeout=self.startup_timeout_seconds,
            error=str(chain[-1]),
        )
        line = f"taskspec: {self.phase} failed: {reason}"
        self.log.error("%s", line)
        return AirflowException(line)

    def execute(self, context: Any) -> Any:
        try:
            super().execute(context)
        except (Exception, AirflowTaskTimeout) as exc:
            raise self.explain(exc) from exc
        return self.after_pod(context)

    def trigger_reentry(self, context: Any, event: dict[str, Any]) -> Any:
        try:
            super().trigger_reentry(context, event)
        except (Exception, AirflowTaskTimeout) as exc:
            raise self.explain(exc) from exc
        return self.after_pod(context)

    def after_pod(self, context: Any) -> Any:
        return None


class _FilerPod(TaskspecPodOperator):
    def _env_from(self, settings: Settings) -> list[k8s.V1EnvFromSource]:
        if not settings.artifact_secret:
            return []
        return [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=settings.artifact_secret))]

    def filer_volumes(self) -> None:
        for volume, mount in k8s_pods.store_volume(self.settings):
            self.volumes.append(volume)
            self.volume_mounts.append(mount)
        self.image = self.settings.filer_image
        self.container_resources = k8s_pods.FILER_RESOURCES

    def pod_store_options(self, context: Any) -> dict[str, Any]:
        return pod_store_options(self.settings) if context else {}


class KubernetesProvisionOperator(_FilerPod):
    """Filer pod: project files (store copy, git ref or none), earlier steps' outputs and data sets."""

    phase = "provision"
    ui_color = "#dbeafe"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._project_url: str | None = None

    def project_url(self) -> str | None:
        folder = self.task_run.source.folder
        if self._project_url or not folder:
            return self._project_url
        return layout.project_url(self.settings.artifact_store, workspace.tree_digest(folder))

    def configure(self, names: RunNames, context: Any) -> None:
        self.filer_volumes()
        spec = {
            "workspace": k8s_pods.WORKSPACE,
            "project_url": self.project_url(),
            "upstream_outputs": names.earlier_outputs(self.plan),
            "data_sets": data_set_staging(self.task_run, self.settings),
            "store_options": self.pod_store_options(context),
            # The executor pod does not mount the store, so a link would dangle there: copy.
            "data_sets_by_reference": False,
            "inputs": input_staging(self.task_run, context or {}),  # rendered without a run: the defaults
        }
        self.cmds = k8s_pods.filer_command("provision", spec)
        self.init_containers = (
            [k8s_pods.git_init_container(self.task_run, self.settings, self.volume_mounts[0])]
            if self.task_run.source.git_url
            else []
        )

    def execute(self, context: Any) -> Any:
        folder = self.task_run.source.folder
        if folder:  # on the worker, once per content hash
            self._project_url = upload_project(folder, self.settings)
            self.log.info("project %s is at %s", folder, self._project_url)
        return super().execute(context)


class KubernetesRunOperator(TaskspecPodOperator):
    """Executor pod: the recipe for the executor kind, then the command."""

    phase = "run"
    ui_color = "#fde68a"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        run = self.task_run
        # Fail at DAG build time, not in a pod: a bad secret name or a missing Vault role.
        self._secret_env = k8s_pods.secret_env(run, self.settings)
        self._vault = k8s_pods.vault_annotations(run, self.settings)
        self.active_deadline_seconds = run.timeout_seconds

    def configure(self, names: RunNames, context: Any) -> None:
        run = self.task_run
        self.image = k8s_pods.executor_image(run, self.settings)
        self.cmds = ["bash", "-c", k8s_pods.run_script(run, self.settings)]
        self.env_vars = (
            k8s_pods.provided_env(names.dag_id, names.run_id, names.step, names.artifact_url)
            + [k8s.V1EnvVar(name=name, value=value) for name, value in input_env(run, context or {}).items()]
            + [k8s.V1EnvVar(name=e.name, value=e.value) for e in run.env]
            + list(self._secret_env)
        )
        self.container_resources = k8s_pods.run_resources(run)
        self.annotations = dict(self._vault)


class KubernetesCollectOperator(_FilerPod):
    """Filer pod: saves artifacts and outputs (also after a failed run), then fails if the run did."""

    phase = "collect"
    ui_color = "#dcfce7"

    def __init__(self, *, run_task_id: str, **kwargs: Any) -> None:
        super().__init__(trigger_rule=TriggerRule.ALL_DONE_SETUP_SUCCESS, **kwargs)
        self.run_task_id = run_task_id

    def configure(self, names: RunNames, context: Any) -> None:
        self.filer_volumes()
        spec = {
            "workspace": k8s_pods.WORKSPACE,
            "artifact_url": names.artifact_url,
            "artifact_paths": list(self.task_run.artifacts.paths),
            "save_changed_files": self.task_run.artifacts.save_changed_files,
            "exchange_url": names.exchange_url if self.plan.hands_on else None,
            "data_sets": data_set_publishing(self.task_run, self.settings),
            "store_options": self.pod_store_options(context),
            "outputs": [{"path": o.path, **({"url": o.url} if o.url else {})} for o in self.task_run.outputs],
            "run_succeeded": bool(context) and run_state(context, self.run_task_id) == "success",
            "data_set_versions": self.settings.data_set_versions,
            "meta": names.meta,
        }
        self.cmds = k8s_pods.filer_command("collect", spec, k8s_pods.collected_url(names.exchange_url))

    def after_pod(self, context: Any) -> dict[str, Any]:
        import json

        url = k8s_pods.collected_url(self.names(context).exchange_url)
        outputs: dict[str, Any] = {"artifacts": []}
        try:
            outputs = json.loads(store.read_bytes(artifact_store.location(self.settings, url)))
        except (OSError, ValueError) as exc:  # the outputs are saved; only their list is missing
            self.log.warning("could not read the list of saved files at %s: %s", url, exc)
        context["ti"].xcom_push(key="return_value", value=outputs)
        fail_unless_run_succeeded(context, self.run_task_id, len(outputs.get("artifacts", [])))
        return outputs


class _WorkspaceBase(TaskRunOperator):
    render_run_id = RENDER_RUN_ID  # the run id `taskspec render` shows; a real run takes it from its context

    def identity(self, context: Any) -> tuple[str, dict[str, str]]:
        run_id = _run_id(context, self.render_run_id)
        return (
            k8s_names.claim_name(self.plan.dag_id, run_id, self.plan.group_id),
            k8s_names.run_labels(self.plan.dag_id, run_id, self.plan.group_id),
        )

    def manifest(self, context: Any = None) -> dict[str, Any]:
        claim, labels = self.identity(context)
        return k8s_pods.pvc_manifest(self.settings, self.task_run, claim, labels)

    def core(self) -> Any:
        return KubernetesHook(conn_id=self.settings.kubernetes_conn_id).core_v1_client


class KubernetesWorkspaceOperator(_WorkspaceBase):
    """Setup: the PVC of this task run (a retry finds it and reuses it)."""

    ui_color = "#eeeeee"

    def execute(self, context: Any) -> str:
        body = self.manifest(context)
        name = body["metadata"]["name"]
        try:
            self.core().create_namespaced_persistent_volume_claim(
                namespace=self.settings.namespace, body=body
            )
            self.log.info("created PVC %s (%s)", name, body["spec"]["resources"]["requests"]["storage"])
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.log.info("PVC %s exists already (a retry); reusing it", name)
        return str(name)


class KubernetesCleanupOperator(_WorkspaceBase):
    """Teardown: deletes this task run's pods (a dead worker may have left some) and its PVC. 404 is fine."""

    ui_color = "#eeeeee"

    def execute(self, context: Any) -> None:
        claim, labels = self.identity(context)
        delete_run_objects(self.core(), self.settings.namespace, claim, labels, log=self.log.info)


def delete_run_objects(
    core: Any, namespace: str, claim: str, labels: dict[str, str], log: Any = print
) -> None:
    pods = core.list_namespaced_pod(namespace=namespace, label_selector=k8s_names.selector(labels)).items
    for pod in pods:
        if not k8s_names.matches(pod.metadata.labels, labels):
            continue
        if _delete(core.delete_namespaced_pod, name=pod.metadata.name, namespace=namespace):
            log(f"deleted leftover pod {pod.metadata.name}")
    if _delete(core.delete_namespaced_persistent_volume_claim, name=claim, namespace=namespace):
        log(f"deleted PVC {claim}")
    else:
        log(f"PVC {claim} was already gone")


def _delete(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


class KubernetesBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def phases(self, workflow: ir.Workflow, run: ir.TaskRun, plan: StepPlan) -> Phases:
        common: dict[str, Any] = {"plan": plan, "settings": self.settings, "task_run": run}
        run_op = KubernetesRunOperator(
            task_id="run",
            retries=run.retries or 0,
            execution_timeout=execution_timeout(run),
            **common,
        )
        return Phases(
            workspace=KubernetesWorkspaceOperator(task_id="workspace", **common),
            provision=KubernetesProvisionOperator(task_id="provision", **common),
            run=run_op,
            collect=KubernetesCollectOperator(
                task_id="collect", run_task_id=run_op.task_id, outlets=list(plan.outlets), **common
            ),
            cleanup=KubernetesCleanupOperator(task_id="cleanup", **common),
        )


# --- render: what each task would create ---


def task_manifests(
    workflow: ir.Workflow, settings: Settings, run_id: str = RENDER_RUN_ID
) -> list[dict[str, Any]]:
    """Per task group, in DAG order: {"group", "pvc", "provision", "run", "collect"} as manifest dicts."""
    from .. import build

    dag = build.build_dag(workflow, KubernetesBackend(settings))
    api = ApiClient()
    groups: dict[str, dict[str, Any]] = {}
    for task in dag.tasks:
        plan = getattr(task, "plan", None)
        if plan is None:
            continue
        entry = groups.setdefault(plan.group_id, {"group": plan.group_id})
        if isinstance(task, KubernetesWorkspaceOperator):
            task.render_run_id = run_id
            entry["pvc"] = task.manifest()
        elif isinstance(task, TaskspecPodOperator):
            task.render_run_id = run_id
            entry[task.phase] = api.sanitize_for_serialization(task.build_pod_request_obj(dry_run=True))
    return list(groups.values())


def render_manifests(workflows: Sequence[ir.Workflow], settings: Settings | None = None) -> str:
    """Every PVC and pod manifest of every task, as one YAML stream (comments name the DAG and task)."""
    from ..config import settings as current

    cfg = settings or current()
    docs: list[str] = []
    for workflow in workflows:
        for entry in task_manifests(workflow, cfg):
            for key in ("pvc", "provision", "run", "collect"):
                head = f"# {workflow.dag_id} / {entry['group']}: {key}\n"
                docs.append(head + yaml.safe_dump(entry[key], sort_keys=False, default_flow_style=False))
    return "---\n".join(docs)
