"""Typed view of the ``[taskspec]`` Airflow config section. Options and defaults are declared once, here."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any

SECTION = "taskspec"

# name -> (type, default, description); get_provider_info() publishes these so `airflow config list` shows them.
OPTIONS: dict[str, tuple[str, str, str]] = {
    "backend": ("string", "local", "Where tasks run: `local` (processes on the worker) or `kubernetes` (pods)."),
    "workspace_root": ("string", "", "Local backend: folder for task workspaces. Empty: $AIRFLOW_HOME/taskspec/workspaces."),
    "env_cache_dir": ("string", "", ("Local backend: cache of Python environments by lock-file hash. "
                       "Empty: $AIRFLOW_HOME/taskspec/envs.")),
    "artifact_store": ("string", "", ("Where artifacts, data sets and step outputs are saved: any URL Airflow's "
                        "ObjectStoragePath understands (s3://bucket/prefix, gs://..., abfs://..., file:///path). "
                        "Empty: file://$AIRFLOW_HOME/taskspec/store. Layout: docs/storage.md.")),
    "artifact_conn_id": ("string", "", ("Airflow connection with the artifact store's credentials, used through "
                          "Airflow's object storage (e.g. an `aws` connection for s3://). Empty: the "
                          "filesystem's own defaults.")),
    "data_set_versions": ("integer", "3", ("Committed versions kept per data set; older ones are deleted when a "
                           "new version is published.")),
    "env_passthrough": ("string", "", ("Local backend: comma-separated names of worker environment variables "
                         "that user code also sees (shell patterns such as `UV_*` allowed). Everything else of "
                         "the worker's environment (metadata database URL, Fernet and JWT secrets, "
                         "AIRFLOW_CONN_*) is withheld; PATH, HOME, LANG, LC_*, TZ, TMPDIR, USER, proxies and "
                         "certificate locations always pass.")),
    "secret_variable_prefix": ("string", "", ("Local backend: `!ame` secret KEY is read from the Airflow Variable "
                                "named prefix + KEY.")),
    "namespace": ("string", "default", "Kubernetes namespace for pods and PVCs."),
    "service_account": ("string", "", "Service account for task pods (empty: the namespace default)."),
    "image_pull_policy": ("string", "IfNotPresent", "imagePullPolicy of every container."),
    "storage_class": ("string", "", "StorageClass of workspace PVCs (empty: the cluster default)."),
    "pvc_access_mode": ("string", "ReadWriteOnce", "Access mode of workspace PVCs."),
    "default_storage": ("string", "1Gi", "Workspace PVC size when a task sets no `resources.storage`."),
    "executor_image": ("string", "taskspec-executor:py{python_version}",
                       "Executor image; `{python_version}` is replaced by the task's pythonVersion."),
    "default_python_version": ("string", "3.11", "pythonVersion for tasks that set none."),
    "filer_image": ("string", "taskspec-filer:latest", "Image of provision and collect pods."),
    "node_selector": ("string", "{}", "JSON object: nodeSelector of task pods."),
    "tolerations": ("string", "[]", "JSON list: tolerations of task pods."),
    "startup_timeout_seconds": ("integer", "300", "A pod that has not started by then fails (Unschedulable)."),
    "deferrable": ("boolean", "False", "Run pods in deferrable mode (wait in the triggerer)."),
    "secret_data_key": ("string", "value", "Kubernetes: data key read from the Secret named by an `!ame` secret's key."),
    "vault_role": ("string", "", "Kubernetes: Vault agent injector role; `!vault` secrets need it."),
    "kubernetes_conn_id": ("string", "kubernetes_default", ("Kubernetes: Airflow connection of the cluster "
                            "(missing `kubernetes_default`: in-cluster config or KUBECONFIG).")),
    "fs_group": ("integer", "1000", ("Kubernetes: securityContext.fsGroup of task pods, so they can write the "
                  "workspace PVC.")),
    "run_as_user": ("integer", "1000", ("Kubernetes: the non-root user id every task container runs as "
                     "(runAsUser, with runAsNonRoot; the taskspec images' user). With fs_group as runAsGroup, "
                     "no privilege escalation, all capabilities dropped and the RuntimeDefault seccomp profile, "
                     "pods meet the Pod Security Standards' restricted profile.")),
    "default_cpu_request": ("string", "100m", "Kubernetes: CPU request of a container whose task sets no `cpu`."),
    "default_cpu_limit": ("string", "1", "Kubernetes: CPU limit of a container whose task sets no `cpu`."),
    "default_memory_request": ("string", "256Mi", ("Kubernetes: memory request of a container whose task sets "
                                "no `memory`.")),
    "default_memory_limit": ("string", "1Gi", ("Kubernetes: memory limit of a container whose task sets no "
                              "`memory`.")),
    "artifact_secret": ("string", "", ("Kubernetes: Secret whose keys become the environment of provision and "
                         "collect pods (e.g. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY for an s3:// store).")),
    "data_set_volume_claim": ("string", "", ("Kubernetes: PVC (ReadOnlyMany or ReadWriteMany) that holds the "
                               "artifact store's files, so data sets are read by reference: executor and collect "
                               "pods mount it read-only and each data-set path of the workspace is a link into "
                               "it, instead of a copy the provision pod streams in. Empty: data sets are copied.")),
    "data_set_volume_path": ("string", "", ("Kubernetes: folder inside data_set_volume_claim that is the artifact "
                              "store's root (the one holding `datasets/`), relative, without `..`. Empty: the "
                              "volume's root.")),
    "pod_poll_interval": ("float", "2", "Kubernetes: seconds between pod status checks while a pod starts and runs."),
    "peach_task_timeout": ("integer", "3600", ("PEACH: execution_timeout (seconds) of each task of an "
                            "organisation's loop (DAG peach.<codops>).")),
    "peach_metadata_timeout": ("integer", "300", ("PEACH: execution_timeout (seconds) of each task of the "
                                "metadata loop (DAG peach.metadata).")),
    "peach_images": ("string", "{}", ("PEACH, Kubernetes: JSON object environment -> image that already holds it "
                      "(`<codops>` for a legacy organisation, `<codops>.<py_env>` otherwise); an environment "
                      "without an image is installed by the executor pod.")),
}


def provider_config_section() -> dict[str, Any]:
    return {
        SECTION: {
            "description": "taskspec: compile AME/PEACH task files into DAGs that run as pods or locally.",
            "options": {
                # Airflow runs str.format() over defaults: braces must be doubled to survive.
                name: {"description": desc, "version_added": "0.1.0", "type": typ, "example": None,
                       "default": default.replace("{", "{{").replace("}", "}}")}
                for name, (typ, default, desc) in OPTIONS.items()
            },
        }
    }


_reads: ContextVar[dict[str, str] | None] = ContextVar("taskspec_option_reads", default=None)


@contextmanager
def recording() -> Iterator[dict[str, str]]:
    """Every option ``get`` reads inside the block, with the value it read (the compile cache keys a compiled
    result by them, so a changed option recompiles exactly what read it)."""
    reads: dict[str, str] = {}
    token = _reads.set(reads)
    try:
        yield reads
    finally:
        _reads.reset(token)


def unchanged(reads: dict[str, str]) -> bool:
    """Whether every option in ``reads`` still has the value read then."""
    return all(_value(name) == value for name, value in reads.items())


def get(name: str) -> str:
    """One option: the environment (AIRFLOW__TASKSPEC__NAME) or airflow.cfg, else the declared default."""
    value = _value(name)
    reads = _reads.get()
    if reads is not None:
        reads[name] = value
    return value


def _value(name: str) -> str:
    env = os.environ.get(f"AIRFLOW__{SECTION.upper()}__{name.upper()}")
    if env is not None:
        return env
    try:
        from airflow.configuration import conf

        value = conf.get(SECTION, name, fallback=None)
    except Exception:  # noqa: BLE001 - Airflow not configured (unit tests, the filer image)
        value = None
    return value if value is not None else OPTIONS[name][1]


def airflow_home() -> str:
    return os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")


@dataclass(frozen=True)
class Settings:
    backend: str
    workspace_root: str
    env_cache_dir: str
    artifact_store: str
    artifact_conn_id: str
    secret_variable_prefix: str
    namespace: str
    service_account: str
    image_pull_policy: str
    storage_class: str
    pvc_access_mode: str
    default_storage: str
    executor_image: str
    default_python_version: str
    filer_image: str
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    startup_timeout_seconds: int
    deferrable: bool
    secret_data_key: str
    vault_role: str
    kubernetes_conn_id: str = "kubernetes_default"
    fs_group: int = 1000
    artifact_secret: str = ""
    pod_poll_interval: float = 2.0
    peach_images: dict[str, str] = field(default_factory=dict)
    env_passthrough: tuple[str, ...] = ()
    run_as_user: int = 1000
    default_cpu_request: str = "100m"
    default_cpu_limit: str = "1"
    default_memory_request: str = "256Mi"
    default_memory_limit: str = "1Gi"
    data_set_versions: int = 3
    data_set_volume_claim: str = ""
    data_set_volume_path: str = ""


class ConfigError(ValueError):
    """An option of the ``[taskspec]`` section that cannot be used; the message names it and how to fix it."""


def _where(name: str) -> str:
    return f"set it in airflow.cfg [{SECTION}] or with AIRFLOW__{SECTION.upper()}__{name.upper()}"


def _json(name: str, expected: type) -> Any:
    raw = get(name) or ("{}" if expected is dict else "[]")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"[{SECTION}] {name} = {raw!r} is not valid JSON ({exc.msg} at character {exc.pos}); "
                          f"{_where(name)}") from None
    if not isinstance(value, expected):
        kind = "object like {\"key\": \"value\"}" if expected is dict else "list like [...]"
        raise ConfigError(f"[{SECTION}] {name} must be a JSON {kind}, not {raw!r}; {_where(name)}")
    return value


def _number(name: str, kind: type[int | float]) -> Any:
    raw = get(name).strip()
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"[{SECTION}] {name} = {raw!r} is not {what}; {_where(name)}") from None
    if value < 0:
        raise ConfigError(f"[{SECTION}] {name} = {raw!r} must not be negative; {_where(name)}")
    return value


def whole_number(name: str) -> int:
    """One integer option, checked like those of ``settings()`` (for dialects that read a single option)."""
    return int(_number(name, int))


def _flag(name: str) -> bool:
    raw = get(name).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"[{SECTION}] {name} = {raw!r} is not true or false; {_where(name)}")


def settings() -> Settings:
    home = os.path.join(airflow_home(), "taskspec")
    backend = get("backend").strip().lower()
    if backend not in ("local", "kubernetes"):
        raise ConfigError(f"[{SECTION}] backend = {backend!r}: use 'local' or 'kubernetes'; {_where('backend')}")
    read = {field.name: _option(field.name) for field in fields(Settings)}
    return Settings(**{
        **read,
        "backend": backend,
        "workspace_root": read["workspace_root"] or os.path.join(home, "workspaces"),
        "env_cache_dir": read["env_cache_dir"] or os.path.join(home, "envs"),
        "artifact_store": read["artifact_store"] or "file://" + os.path.join(home, "store"),
        "env_passthrough": tuple(name.strip() for name in get("env_passthrough").split(",") if name.strip()),
        "data_set_versions": _at_least_one("data_set_versions"),
        "data_set_volume_path": _relative_path("data_set_volume_path"),
    })


_JSON_OPTIONS: dict[str, type] = {"node_selector": dict, "tolerations": list, "peach_images": dict}


def _option(name: str) -> Any:
    """One option, checked and converted by its declared type (``OPTIONS``)."""
    if name in _JSON_OPTIONS:
        return _json(name, _JSON_OPTIONS[name])
    kind = OPTIONS[name][0]
    if kind == "integer":
        return int(_number(name, int))
    if kind == "float":
        return float(_number(name, float))
    if kind == "boolean":
        return _flag(name)
    return get(name)


def _relative_path(name: str) -> str:
    """A folder inside a volume (a volumeMount's subPath): relative and without ``..``."""
    raw = get(name).strip()
    if raw.startswith("/") or ".." in raw.split("/"):
        raise ConfigError(f"[{SECTION}] {name} = {raw!r} must be a relative path inside the volume, without "
                          f"'..' (e.g. taskspec/store); {_where(name)}")
    return raw.rstrip("/")


def _at_least_one(name: str) -> int:
    value = int(_number(name, int))
    if value < 1:
        raise ConfigError(f"[{SECTION}] {name} = {value} must be at least 1; {_where(name)}")
    return value
