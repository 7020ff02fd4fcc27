"""The executor and filer images run as the non-root user the rendered pods ask for (securityContext of the
restricted profile), and that user can write the workspace volume."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from airflow_taskspec import ir
from airflow_taskspec.backends import StepPlan
from airflow_taskspec.backends.kubernetes import KubernetesStepOperator
from airflow_taskspec.config import settings
from podman_support import PodmanCleanup, TestImages, kube_play, manifest, unique_name, volume_path

pytestmark = [pytest.mark.integration, pytest.mark.podman]


def rendered_pods(images: TestImages) -> dict[str, dict[str, Any]]:
    cfg = replace(settings(), backend="kubernetes", artifact_store="s3://bucket/ts", artifact_conn_id="",
                  executor_image=images.executor, filer_image=images.filer, image_pull_policy="Never")
    run = ir.TaskRun(name="t", recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, "true"), source=ir.ProjectSource(folder=None),
                     artifacts=ir.Artifacts(save_changed_files=True))
    step = KubernetesStepOperator(plan=StepPlan(dag_id="p.t", step="t"), settings=cfg, task_run=run)
    return {phase: dict(pod) for phase, pod in step.manifests().items() if phase in ("provision", "run", "collect")}


@pytest.mark.parametrize("phase", ["run", "collect"])
def test_each_image_runs_as_the_pods_non_root_user_and_writes_the_workspace(
    phase: str, podman_images: TestImages, podman_cleanup: PodmanCleanup
) -> None:
    pod = rendered_pods(podman_images)[phase]
    assert pod["spec"]["securityContext"]["runAsUser"] == 1000 and pod["spec"]["securityContext"]["runAsNonRoot"]
    claim = podman_cleanup.volume(unique_name("ws"))
    pod["metadata"]["name"] = podman_cleanup.pod(unique_name(phase))
    pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = claim
    container = pod["spec"]["containers"][0]
    container["command"] = ["sh", "-c", "id -u; id -g; echo hi > /workspace/written && echo written"]
    container.pop("args", None)
    result = kube_play(manifest(pod))
    assert result.exit_codes == {"base": 0}, result.logs
    assert result.logs["base"].split() == ["1000", "1000", "written"]
    assert (volume_path(claim) / "written").read_text() == "hi\n"
