"""The podman harness works: pods run for real, share a PVC-backed workspace, and report exit codes."""

from __future__ import annotations

from typing import Any

import pytest
from podman_support import (
    PodmanCleanup,
    TestImages,
    kube_play,
    manifest,
    pod_exit_codes,
    unique_name,
    volume_path,
)

pytestmark = [pytest.mark.integration, pytest.mark.podman]


def pod(
    name: str,
    *,
    containers: list[dict[str, Any]],
    init: list[dict[str, Any]] | None = None,
    claim: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": containers}
    if init:
        spec["initContainers"] = init
    if claim:
        spec["volumes"] = [{"name": "workspace", "persistentVolumeClaim": {"claimName": claim}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def container(name: str, image: str, command: list[str], workspace: bool = True) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image, "command": command}
    if workspace:
        c["volumeMounts"] = [{"name": "workspace", "mountPath": "/workspace"}]
    return c


def test_pods_share_a_pvc_backed_workspace(podman_images: TestImages, podman_cleanup: PodmanCleanup) -> None:
    claim = podman_cleanup.volume(unique_name("ws"))
    first = podman_cleanup.pod(unique_name("run"))
    init = container(
        "provision",
        podman_images.filer,
        ["sh", "-c", "echo 'hello from provision' > /workspace/input.txt; echo provisioned"],
    )
    task = (
        "import pathlib; text = pathlib.Path('input.txt').read_text();"
        " pathlib.Path('output.txt').write_text(text.upper()); print('ran in', pathlib.Path.cwd())"
    )
    main = container("run", podman_images.executor, ["python3", "-c", task])

    result = kube_play(manifest(pod(first, init=[init], containers=[main], claim=claim)))

    assert result.exit_codes == {"provision": 0, "run": 0}, result.logs
    assert result.succeeded
    assert result.containers["provision"].init
    assert "provisioned" in result.logs["provision"]
    assert "ran in /workspace" in result.logs["run"]
    on_host = volume_path(claim)
    assert (on_host / "input.txt").read_text() == "hello from provision\n"
    assert (on_host / "output.txt").read_text() == "HELLO FROM PROVISION\n"

    # A second pod naming the same claim sees the first pod's files (provision -> run -> collect).
    second = podman_cleanup.pod(unique_name("collect"))
    collect = container(
        "collect",
        podman_images.filer,
        ["sh", "-c", "ls /workspace; cat /workspace/output.txt > /workspace/collected"],
    )
    collected = kube_play(manifest(pod(second, containers=[collect], claim=claim)))

    assert collected.exit_codes == {"collect": 0}
    assert collected.logs["collect"].split() == ["input.txt", "output.txt"]
    assert (on_host / "collected").read_text() == "HELLO FROM PROVISION\n"


def test_exit_code_of_a_failing_container_is_reported(
    podman_images: TestImages, podman_cleanup: PodmanCleanup
) -> None:
    name = podman_cleanup.pod(unique_name("fail"))
    failing = container(
        "run", podman_images.executor, ["sh", "-c", "echo to stderr >&2; exit 3"], workspace=False
    )

    result = kube_play(manifest(pod(name, containers=[failing])))

    assert result.exit_codes == {"run": 3}
    assert not result.succeeded
    assert result.logs["run"] == "to stderr\n"
    assert pod_exit_codes(name) == {"run": 3}


def test_failing_init_container_stops_the_pod_before_the_main_container(
    podman_images: TestImages, podman_cleanup: PodmanCleanup
) -> None:
    name = podman_cleanup.pod(unique_name("initfail"))
    init = container("provision", podman_images.filer, ["sh", "-c", "exit 5"], workspace=False)
    main = container("run", podman_images.executor, ["true"], workspace=False)

    result = kube_play(manifest(pod(name, init=[init], containers=[main])))

    assert result.exit_codes == {"provision": 5, "run": None}


def test_filer_image_carries_the_runtime_package_without_airflow(
    podman_images: TestImages, podman_cleanup: PodmanCleanup
) -> None:
    name = podman_cleanup.pod(unique_name("filer"))
    check = (
        "import importlib.util as u, airflow_taskspec.runtime, fsspec, s3fs;"
        " print(u.find_spec('airflow') is None, airflow_taskspec.runtime.__name__)"
    )
    probe = container("probe", podman_images.filer, ["python", "-c", check], workspace=False)

    result = kube_play(manifest(pod(name, containers=[probe])))

    assert result.exit_codes == {"probe": 0}, result.logs
    assert result.logs["probe"] == "True airflow_taskspec.runtime\n"
