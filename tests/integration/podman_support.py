"""Run Kubernetes pod manifests for real with `podman kube play` (no cluster, no registry needed).

What podman 4.3 kube play gives us: init containers in order, PVCs as podman volumes (auto-created and
shared between pods naming the same claim, which is how provision -> run -> collect share a workspace),
commands, env, resource limits, exit codes. What it does not: Secrets (env from secret, secret volumes),
so leave those out of manifests played here.

Everything here raises when podman cannot do its job (PodmanError): an integration test must fail loudly,
never skip, when its machinery is broken.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = REPO_ROOT / "scripts" / "podman-setup.sh"
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-test-images.sh"

# podman removes one-shot init containers once they succeed, and their exit codes and logs with them.
# "always" init containers are kept, so a test can see what provisioning printed.
_KEEP_INIT_CONTAINERS = {"io.podman.annotations.init.container.type": "always"}
_INIT_FAILED = re.compile(r"init container \S+ exited with code (\d+)")


# The tag scripts/build-test-images.sh gave the executor and filer images (TASKSPEC_TEST_IMAGE_TAG).
_TAG = os.environ.get("TASKSPEC_TEST_IMAGE_TAG", "test")


class PodmanError(RuntimeError):
    """podman is missing, misconfigured, or failed for a reason other than a container's exit code."""


@dataclass(frozen=True)
class TestImages:
    """The locally built images (scripts/build-test-images.sh), usable in manifests as they are."""

    __test__ = False  # not a pytest test class despite the name

    base: str = "localhost/taskspec-base:test"
    executor: str = f"localhost/taskspec-executor:{_TAG}"
    filer: str = f"localhost/taskspec-filer:{_TAG}"


@dataclass(frozen=True)
class ContainerResult:
    name: str
    init: bool
    exit_code: int | None  # None: the container never ran (an init container before it failed)
    logs: str  # stdout and stderr, interleaved as written


@dataclass(frozen=True)
class PodResult:
    pod_name: str
    containers: dict[str, ContainerResult]  # by container name, init containers first, in spec order
    output: str  # what `podman kube play` printed

    @property
    def exit_codes(self) -> dict[str, int | None]:
        return {name: c.exit_code for name, c in self.containers.items()}

    @property
    def logs(self) -> dict[str, str]:
        return {name: c.logs for name, c in self.containers.items()}

    @property
    def succeeded(self) -> bool:
        return all(c.exit_code == 0 for c in self.containers.values())


_ensure_lock = threading.Lock()
_ensured: TestImages | None = None


def ensure_podman(force_rebuild: bool = False) -> TestImages:
    """Install/configure podman and build the test images, once per process.

    Sets CONTAINERS_CONF in os.environ so that every podman call (ours and a test's own) uses the
    runtime and ulimits that work on our machines. Cold: ~2.5 min; warm: <1 s.
    """
    global _ensured
    with _ensure_lock:
        if _ensured is not None and not force_rebuild:
            return _ensured
        setup = _run_script([str(SETUP_SCRIPT)], timeout=900)
        match = re.search(r"^export CONTAINERS_CONF=(\S+)$", setup.stdout, re.MULTILINE)
        if match is None:
            raise PodmanError(f"{SETUP_SCRIPT.name} printed no CONTAINERS_CONF line:\n{setup.stdout}")
        os.environ["CONTAINERS_CONF"] = match.group(1)
        _run_script([str(BUILD_SCRIPT), *(["--force"] if force_rebuild else [])], timeout=1800)
        images = TestImages()
        for image in (images.base, images.executor, images.filer):
            if _podman("image", "exists", image, check=False).returncode != 0:
                raise PodmanError(f"{BUILD_SCRIPT.name} succeeded but image {image} does not exist")
        _ensured = images
        return images


def unique_name(prefix: str) -> str:
    """A DNS-1123 name unlikely to clash with a concurrent test run on the same machine."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def kube_play(manifest_yaml: str, timeout: float = 120) -> PodResult:
    """Run a manifest holding exactly one Pod (plus any PersistentVolumeClaims) to completion.

    Returns every container's exit code and logs. A failing container is a result, not an error; an
    exception means podman itself failed (bad manifest, missing image, timeout).
    """
    docs = [d for d in yaml.safe_load_all(manifest_yaml) if d]
    pods = [d for d in docs if d.get("kind") == "Pod"]
    if len(pods) != 1:
        raise ValueError(f"kube_play needs exactly one Pod in the manifest, got {len(pods)}")
    pod = pods[0]
    spec = pod.get("spec") or {}
    if spec.get("restartPolicy") != "Never":
        # Kubernetes' default (Always) would restart the containers forever; our pods use Never.
        raise ValueError("kube_play runs pods to completion: set spec.restartPolicy: Never")
    pod_name = pod["metadata"]["name"]
    pod.setdefault("metadata", {}).setdefault("annotations", {}).update(_KEEP_INIT_CONTAINERS)
    init_names = [c["name"] for c in spec.get("initContainers") or []]
    main_names = [c["name"] for c in spec.get("containers") or []]

    played = _podman(
        "kube", "play", "-", input=yaml.safe_dump_all(docs, sort_keys=False), check=False, timeout=timeout
    )
    output = played.stdout + played.stderr
    if played.returncode != 0:
        init_failed = _INIT_FAILED.search(played.stderr)
        if init_failed is None or _podman("pod", "exists", pod_name, check=False).returncode != 0:
            raise PodmanError(f"podman kube play failed ({played.returncode}):\n{output}")
        # An init container failed: the main containers were created but never started.
    else:
        containers = [_container_name(pod_name, name) for name in main_names]
        try:
            _podman("wait", *containers, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _podman("pod", "kill", pod_name, check=False)
            raise PodmanError(f"pod {pod_name} still running after {timeout} s") from exc

    exit_codes = pod_exit_codes(pod_name)
    results = {}
    for name in [*init_names, *main_names]:
        if name not in exit_codes:
            raise PodmanError(f"container {name} of pod {pod_name} not found; podman has {list(exit_codes)}")
        results[name] = ContainerResult(
            name=name,
            init=name in init_names,
            exit_code=exit_codes[name],
            logs=container_logs(pod_name, name),
        )
    return PodResult(pod_name=pod_name, containers=results, output=output)


def pod_exit_codes(pod_name: str) -> dict[str, int | None]:
    """Exit code per container (by its name in the manifest); None for one that never ran."""
    listed = _podman("ps", "--all", "--filter", f"pod={pod_name}", "--format", "json")
    codes: dict[str, int | None] = {}
    for entry in json.loads(listed.stdout or "[]"):
        if entry.get("IsInfra"):
            continue
        full_name = entry["Names"][0]
        name = full_name.removeprefix(f"{pod_name}-")
        codes[name] = entry["ExitCode"] if entry["State"] in ("exited", "stopped") else None
    if not codes:
        raise PodmanError(f"pod {pod_name} has no containers (does it exist?)")
    return codes


def container_logs(pod_name: str, container: str) -> str:
    """stdout and stderr of one container, interleaved."""
    done = subprocess.run(
        ["podman", "logs", _container_name(pod_name, container)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise PodmanError(f"podman logs {container} failed:\n{done.stdout}")
    return done.stdout


def volume_path(claim_name: str) -> Path:
    """Where podman keeps the volume it made for a PVC, on the host: tests read task files from here."""
    inspected = _podman("volume", "inspect", "--format", "{{.Mountpoint}}", claim_name, check=False)
    if inspected.returncode != 0:
        raise PodmanError(f"no podman volume for claim {claim_name}: {inspected.stderr.strip()}")
    return Path(inspected.stdout.strip())


def teardown(pods: Iterable[str] = (), volumes: Iterable[str] = ()) -> None:
    """Remove pods (with their containers) and then volumes; missing ones are fine."""
    pod_names = list(pods)
    if pod_names:
        # Stopping first, without grace: `pod rm --force` alone waits seconds on a pod whose init
        # container failed.
        _podman("pod", "stop", "--ignore", "--time", "0", *pod_names, check=False)
        _podman("pod", "rm", "--force", "--ignore", *pod_names)
    for volume in volumes:
        if _podman("volume", "exists", volume, check=False).returncode == 0:
            _podman("volume", "rm", "--force", volume)


class PodmanCleanup:
    """Collects the pod and claim names a test creates, for teardown() (the podman_cleanup fixture)."""

    def __init__(self) -> None:
        self.pods: list[str] = []
        self.volumes: list[str] = []

    def pod(self, name: str) -> str:
        self.pods.append(name)
        return name

    def volume(self, name: str) -> str:
        self.volumes.append(name)
        return name


def _container_name(pod_name: str, container: str) -> str:
    return f"{pod_name}-{container}"


def _env() -> Mapping[str, str]:
    if "CONTAINERS_CONF" not in os.environ:
        raise PodmanError(
            "CONTAINERS_CONF is not set: call ensure_podman() (the podman_images fixture) first"
        )
    return os.environ


def _podman(
    *args: str, input: str | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            ["podman", *args],
            input=input,
            capture_output=True,
            text=True,
            env=_env(),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise PodmanError("podman is not installed: run scripts/podman-setup.sh") from exc
    if check and done.returncode != 0:
        raise PodmanError(f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def _run_script(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PodmanError(f"{command[0]} could not run: {exc}") from exc
    if done.returncode != 0:
        raise PodmanError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-8000:]}"
        )
    return done


def manifest(*docs: Mapping[str, Any]) -> str:
    """Dump manifests (dicts) as one multi-document YAML string, for kube_play."""
    return yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False)


# --- a step's operator spawning its pods into podman ---


class PodmanCluster:
    """Stands in for the Kubernetes API and the pod operator of a step, with podman underneath, so that what
    a KubernetesStepOperator creates runs for real, in the order and with the skips the operator decides:
    its PVC becomes a podman volume, each phase pod is played with `podman kube play` and removed when done
    (as the pod operator deletes a finished pod). ``played`` lists (step, phase, result) in order.

    Use: ``cluster.attach(step_operator)``, and patch ``airflow_taskspec.backends.kubernetes.core_api`` to
    return the cluster for the run's teardown."""

    def __init__(self) -> None:
        self.played: list[tuple[str, str, PodResult]] = []

    def attach(self, step: Any) -> None:
        from airflow_taskspec.backends.k8s_phase_pods import POD_OF_PHASE

        step.core = lambda: self
        step.phase_pod = lambda phase, job: _PodmanPhasePod(self, step.task_id, POD_OF_PHASE[phase](job=job))

    # --- the CoreV1Api calls a step makes ---

    def create_namespaced_persistent_volume_claim(self, namespace: str, body: dict[str, Any]) -> None:
        labels = [f"--label={k}={v}" for k, v in body["metadata"]["labels"].items()]
        _podman("volume", "create", *labels, body["metadata"]["name"])

    def list_namespaced_persistent_volume_claim(self, namespace: str, label_selector: str) -> Any:
        listed = json.loads(_podman("volume", "ls", "--format", "json").stdout or "[]")
        return _items((v["Name"], v.get("Labels") or {}) for v in listed)

    def delete_namespaced_persistent_volume_claim(self, name: str, namespace: str) -> None:
        if _podman("volume", "exists", name, check=False).returncode != 0:
            raise _not_found()
        _podman("volume", "rm", "--force", name)

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
        listed = json.loads(_podman("pod", "ps", "--format", "json").stdout or "[]")
        return _items((p["Name"], p.get("Labels") or {}) for p in listed)

    def delete_namespaced_pod(self, name: str, namespace: str) -> None:
        if _podman("pod", "exists", name, check=False).returncode != 0:
            raise _not_found()
        teardown([name])

    def leftovers(self) -> list[str]:
        """Every taskspec pod and volume podman still has."""
        managed = {"app.kubernetes.io/managed-by": "taskspec"}
        found = self.list_namespaced_pod("", "").items + self.list_namespaced_persistent_volume_claim("", "").items
        return [o.metadata.name for o in found if all(o.metadata.labels.get(k) == v for k, v in managed.items())]


class _PodmanPhasePod:
    """A phase pod (k8s_phase_pods.PhasePod) whose manifest is played by podman instead of a cluster."""

    def __init__(self, cluster: PodmanCluster, step: str, pod: Any) -> None:
        self.cluster, self.step, self.pod = cluster, step, pod
        self.result: PodResult | None = None

    def start(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowException

        manifest_doc = self.pod.manifest()
        try:
            self.result = kube_play(manifest(manifest_doc), timeout=600)
        finally:
            teardown([manifest_doc["metadata"]["name"]])
        self.cluster.played.append((self.step, self.pod.phase, self.result))
        if not self.result.succeeded:
            raise AirflowException(f"Pod {self.result.pod_name} returned a failure.")

    def failure_line(self, error: BaseException) -> str:
        from airflow_taskspec.backends.k8s_failures import failure_reason

        codes = self.result.exit_codes if self.result else {}
        statuses = [{"name": n, "state": {"terminated": {"exitCode": c}}} for n, c in codes.items() if c is not None]
        return failure_reason({"status": {"containerStatuses": statuses}}, error=str(error))

    def on_kill(self) -> None:
        return None


def _items(found: Iterable[tuple[str, dict[str, str]]]) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(
        items=[SimpleNamespace(metadata=SimpleNamespace(name=name, labels=labels)) for name, labels in found]
    )


def _not_found() -> Exception:
    from kubernetes.client import ApiException

    return ApiException(status=404)
