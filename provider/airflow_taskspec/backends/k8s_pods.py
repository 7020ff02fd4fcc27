"""What a TaskRun's pods and PVC contain: pure functions from the IR and the settings to Kubernetes objects.

No Airflow here; ``kubernetes.py`` feeds these pieces to the KubernetesPodOperator. Secret values never
appear: ``!ame`` secrets are ``secretKeyRef``s, ``!vault`` secrets are Vault agent injector annotations.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from kubernetes.client import models as k8s

from .. import ir, recipes
from ..config import Settings
from ..runtime import store
from . import k8s_names, secrets

WORKSPACE = "/workspace"
WORKSPACE_VOLUME = "workspace"
STORE_VOLUME = "artifact-store"
DATA_SET_VOLUME = "data-sets"
DATA_SET_MOUNT = "/taskspec/store"
"""Where ``[taskspec] data_set_volume_claim`` (the artifact store's root in it) is mounted, read-only."""
VAULT_DIR = "/vault/secrets"


# Kubernetes replaces `$(NAME)` in a container's command, args and env values by the variable NAME (and `$$` by
# `$`) before the shell sees them; the local backend passes them as written. Doubling every `$` that starts such
# a sequence makes Kubernetes hand over exactly what taskspec wrote, so `$(date)` is bash's command
# substitution and `$$` bash's PID on both backends.
_EXPANDED = re.compile(r"\$(?=[($])")


def unexpanded(text: str) -> str:
    """``text`` escaped so that Kubernetes' `$(VAR)` expansion gives it back unchanged."""
    return _EXPANDED.sub("$$", text)


def keep_as_written(containers: list[k8s.V1Container]) -> None:
    """Escape what Kubernetes would expand in every container's command, args and env values (in place)."""
    for container in containers:
        container.command = [unexpanded(part) for part in container.command] if container.command else None
        container.args = [unexpanded(part) for part in container.args] if container.args else None
        for var in container.env or []:
            if var.value is not None:
                var.value = unexpanded(var.value)


class KubernetesSpecError(ValueError):
    """A task that cannot become a pod as configured (the message says what to change)."""


def pvc_manifest(settings: Settings, run: ir.TaskRun, name: str, labels: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": [settings.pvc_access_mode],
        "resources": {"requests": {"storage": run.resources.storage or settings.default_storage}},
    }
    if settings.storage_class:
        spec["storageClassName"] = settings.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": dict(labels)},
        "spec": spec,
    }


def executor_image(run: ir.TaskRun, settings: Settings) -> str:
    if run.image:
        return run.image
    version = run.recipe.python_version or settings.default_python_version
    return settings.executor_image.replace("{python_version}", version)


def default_resources(settings: Settings) -> k8s.V1ResourceRequirements:
    """Requests and limits of a container whose task says nothing (filer pods, the git init container): a
    namespace with a ResourceQuota admits only containers that have them."""
    return k8s.V1ResourceRequirements(
        requests={"cpu": settings.default_cpu_request, "memory": settings.default_memory_request},
        limits={"cpu": settings.default_cpu_limit, "memory": settings.default_memory_limit},
    )


def run_resources(run: ir.TaskRun, settings: Settings) -> k8s.V1ResourceRequirements:
    """Requests and limits from ``resources`` (request = limit), the configured defaults for what it leaves
    out; GPUs and other extended resources as limits only."""
    r = run.resources
    requests = {"cpu": r.cpu or settings.default_cpu_request, "memory": r.memory or settings.default_memory_request}
    limits = {"cpu": r.cpu or settings.default_cpu_limit, "memory": r.memory or settings.default_memory_limit}
    if r.gpu:
        limits["nvidia.com/gpu"] = str(r.gpu)
    limits.update(dict(r.extra))
    return k8s.V1ResourceRequirements(requests=requests, limits=limits)


def pod_security_context(settings: Settings) -> k8s.V1PodSecurityContext:
    """The Pod Security Standards' restricted profile at pod level: a non-root user, the runtime's default
    seccomp profile, and fsGroup so that user can write the workspace PVC."""
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=settings.run_as_user,
        run_as_group=settings.fs_group,
        fs_group=settings.fs_group,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def container_security_context() -> k8s.V1SecurityContext:
    """The restricted profile's per-container part: no privilege escalation, every capability dropped."""
    return k8s.V1SecurityContext(
        allow_privilege_escalation=False, capabilities=k8s.V1Capabilities(drop=["ALL"])
    )


def secret_env(run: ir.TaskRun, settings: Settings) -> list[k8s.V1EnvVar]:
    """``!ame`` secrets: AME's convention, the Secret named by the key; its data key comes from the config."""
    env = []
    for secret in run.secrets:
        if not secrets.is_builtin(secret):
            continue
        name = secret_name(secret.key)
        if not k8s_names.is_dns_subdomain(name):
            raise KubernetesSpecError(
                f"task {run.name!r}: secret key {secret.key!r} (for {secret.inject_as}) cannot name a Kubernetes "
                "Secret; use letters, digits, '-', '_' and '.'"
            )
        env.append(
            k8s.V1EnvVar(
                name=secret.inject_as,
                value_from=k8s.V1EnvVarSource(
                    secret_key_ref=k8s.V1SecretKeySelector(name=name, key=settings.secret_data_key)
                ),
            )
        )
    return env


def secret_name(key: str) -> str:
    """The Secret an ``!ame`` key names: the key itself, lower-cased with ``_`` as ``-`` (AME's example keys,
    such as ``blob_storage_key``, are not valid Kubernetes names as written)."""
    return key.lower().replace("_", "-")


def vault_annotations(run: ir.TaskRun, settings: Settings) -> dict[str, str]:
    """``!vault`` secrets through the Vault agent injector: files under /vault/secrets, read by the script."""
    wanted = [s for s in run.secrets if secrets.is_vault(s)]
    if not wanted:
        return {}
    if not settings.vault_role:
        names = ", ".join(s.inject_as for s in wanted)
        raise KubernetesSpecError(
            f"task {run.name!r} reads {names} from Vault, but the kubernetes backend has no Vault role: set "
            "[taskspec] vault_role (AIRFLOW__TASKSPEC__VAULT_ROLE) and run the Vault agent injector in the cluster"
        )
    notes = {
        "vault.hashicorp.com/agent-inject": "true",
        # Only the init container: a sidecar agent would keep the pod running after the task ends.
        "vault.hashicorp.com/agent-pre-populate-only": "true",
        "vault.hashicorp.com/role": settings.vault_role,
    }
    for s in wanted:
        notes[f"vault.hashicorp.com/agent-inject-secret-{s.inject_as}"] = s.key
        notes[f"vault.hashicorp.com/agent-inject-template-{s.inject_as}"] = (
            f'{{{{- with secret "{s.key}" -}}}}{{{{ .Data.data.{settings.secret_data_key} }}}}{{{{- end -}}}}'
        )
    return notes


def _vault_exports(run: ir.TaskRun) -> str:
    return "".join(
        f'export {s.inject_as}="$(cat {VAULT_DIR}/{s.inject_as})"\n'
        for s in run.secrets
        if secrets.is_vault(s)
    )


def run_script(run: ir.TaskRun, settings: Settings) -> str:
    """The run pod's script of a command recipe (a notebook's comes from ``notebook_task.pod_script``)."""
    if not isinstance(run.recipe, ir.Recipe):
        raise TypeError(f"run_script takes a command recipe, not {type(run.recipe).__name__}")
    version = run.recipe.python_version or settings.default_python_version
    script = recipes.script(run.recipe, python_version=version, env_cache_dir=None)
    assert script.startswith(recipes.PROLOGUE)
    body = script[len(recipes.PROLOGUE) :]
    return recipes.PROLOGUE + f"cd {WORKSPACE}\n" + _vault_exports(run) + body


def provided_env(dag_id: str, run_id: str, task: str, artifact_url: str) -> list[k8s.V1EnvVar]:
    values = {
        "TASKSPEC_WORKSPACE": WORKSPACE,
        "TASKSPEC_DAG_ID": dag_id,
        "TASKSPEC_RUN_ID": run_id,
        "TASKSPEC_TASK": task,
        "TASKSPEC_ARTIFACT_URL": artifact_url,
    }
    return [k8s.V1EnvVar(name=k, value=v) for k, v in values.items()]


def workspace_volume(claim: str) -> tuple[k8s.V1Volume, k8s.V1VolumeMount]:
    return (
        k8s.V1Volume(
            name=WORKSPACE_VOLUME,
            persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=claim),
        ),
        k8s.V1VolumeMount(name=WORKSPACE_VOLUME, mount_path=WORKSPACE),
    )


def store_volume(settings: Settings) -> list[tuple[k8s.V1Volume, k8s.V1VolumeMount]]:
    """A ``file://`` artifact store is a host folder: filer pods mount it at the same path (single-node
    clusters such as k3s in docker compose, kind or podman; the worker must see the same folder)."""
    if not settings.artifact_store.startswith("file://"):
        return []
    path = settings.artifact_store[len("file://") :].rstrip("/") or "/"
    return [
        (
            k8s.V1Volume(
                name=STORE_VOLUME, host_path=k8s.V1HostPathVolumeSource(path=path, type="DirectoryOrCreate")
            ),
            k8s.V1VolumeMount(name=STORE_VOLUME, mount_path=path),
        )
    ]


def reads_data_sets_by_volume(run: ir.TaskRun, settings: Settings) -> bool:
    return bool(settings.data_set_volume_claim) and bool(run.data_sets)


def data_set_volume(run: ir.TaskRun, settings: Settings) -> list[tuple[k8s.V1Volume, k8s.V1VolumeMount]]:
    """The shared volume holding the store's data sets, read-only at DATA_SET_MOUNT, for a step that reads
    data sets while ``data_set_volume_claim`` is set; the workspace's data-set paths are links into it."""
    if not reads_data_sets_by_volume(run, settings):
        return []
    claim = settings.data_set_volume_claim
    return [
        (
            k8s.V1Volume(
                name=DATA_SET_VOLUME,
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=claim, read_only=True),
            ),
            k8s.V1VolumeMount(name=DATA_SET_VOLUME, mount_path=DATA_SET_MOUNT, read_only=True,
                              sub_path=settings.data_set_volume_path or None),
        )
    ]


def data_sets_mounted(run: ir.TaskRun, settings: Settings) -> dict[str, Any]:
    """The provision spec's keys for linking data sets into the shared volume (none when it is not used)."""
    if not reads_data_sets_by_volume(run, settings):
        return {}
    return {"data_sets_mounted": {"store": settings.artifact_store, "path": DATA_SET_MOUNT}}


def filer_command(action: str, spec: dict[str, Any], result_url: str | None = None) -> list[str]:
    cmd = ["python", "-m", "airflow_taskspec.runtime", action, "--spec", json.dumps(spec, sort_keys=True)]
    if result_url:
        cmd += ["--result-url", result_url]
    return cmd


def git_init_container(run: ir.TaskRun, settings: Settings, mount: k8s.V1VolumeMount) -> k8s.V1Container:
    """Fetch the project from git into the workspace (the executor image has git; the filer image has not)."""
    url = shlex.quote(run.source.git_url or "")
    ref = shlex.quote(run.source.git_ref or "HEAD")
    script = (
        f"set -euo pipefail\ncd {WORKSPACE}\ngit init --quiet .\n"
        f"git fetch --quiet --depth 1 {url} {ref}\ngit checkout --quiet --force FETCH_HEAD\n"
        f'echo "taskspec: checked out {ref} of {url}"\n'
    )
    return k8s.V1Container(
        name="git",
        image=executor_image(run, settings),
        command=["bash", "-c", script],
        volume_mounts=[mount],
        image_pull_policy=settings.image_pull_policy,
        resources=default_resources(settings),
        security_context=container_security_context(),
    )


def collected_url(exchange_url: str) -> str:
    """Where the collect pod leaves its list of saved files, for the worker to push as XCom."""
    return store.join(exchange_url.rsplit("/", 1)[0], "collected.json")
