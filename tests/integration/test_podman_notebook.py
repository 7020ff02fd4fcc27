"""A PEACH notebook task's pod under podman: the filer image's provision stages the example project into the
workspace claim, then the executor image runs recipes.notebook_script (environment by uv, method's cell only).

The step operator that creates these pods comes with branch step-operator; the pod here is written by the test
around the same two commands (provision's runtime entry point, the notebook script).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow_taskspec import recipes
from airflow_taskspec.runtime import notebook
from podman_support import PodmanCleanup, TestImages, kube_play, manifest, unique_name, volume_path

from tests.conftest import EXAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.podman]

NEWSROOM = EXAMPLES / "peach_demo" / "newsroom"


def _pod(name: str, claim: str, images: TestImages, script: str) -> dict[str, Any]:
    workspace = [{"name": "workspace", "mountPath": "/workspace"}]
    provision = {"name": "provision", "image": images.filer, "volumeMounts": workspace + [
        {"name": "project", "mountPath": "/project", "readOnly": True}],
        "command": ["python", "-m", "airflow_taskspec.runtime", "provision", "--spec",
                    json.dumps({"workspace": "/workspace", "project_url": "/project"})]}
    run = {"name": "run", "image": images.executor, "workingDir": "/workspace", "volumeMounts": workspace,
           "command": ["bash", "-c", script]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "initContainers": [provision], "containers": [run],
        "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": claim}},
                    {"name": "project", "hostPath": {"path": str(NEWSROOM), "type": "Directory"}}]}}


def _script(method: str, args: dict[str, Any]) -> str:
    name = "notebooks/headlines.ipynb"
    prog = notebook.program(str(NEWSROOM / name), name=name, method=method, full_notebook=False, args=args,
                            version=notebook.version(str(NEWSROOM / name)))
    return recipes.notebook_script(prog.to_json(), requirements=(), python_version="3.11")


def test_a_notebook_task_pod_runs_the_method_in_the_executor_image(
    podman_images: TestImages, podman_cleanup: PodmanCleanup
) -> None:
    claim = podman_cleanup.volume(unique_name("peach-ws"))
    name = podman_cleanup.pod(unique_name("peach-run"))
    script = _script("rank_headlines", {"source": "data/articles.json", "top": 2,
                                       "weights": {"storm": 2, "local": [1, 0.5]}})  # storm: 2 + 1.5 + 5.2k views

    result = kube_play(manifest(_pod(name, claim, podman_images, script)), timeout=300)

    assert result.exit_codes == {"provision": 0, "run": 0}, result.logs
    assert recipes.notebook_result(result.logs["run"].splitlines()) == {"status": "ok", "result": {
        "top": ["Election results in the capital", "Storm closes local schools"], "side_effect_ran": False}}
    on_host = volume_path(claim)
    assert json.loads((on_host / "out" / "top_headlines.json").read_text())[0]["views"] == 9100
    assert not (on_host / "SIDE_EFFECT_RAN").exists()
    assert (on_host / ".taskspec" / "venv" / "bin" / "python").exists()  # installed by uv in the pod


def test_a_failing_notebook_task_pod_exits_1_with_the_cell_and_line(
    podman_images: TestImages, podman_cleanup: PodmanCleanup
) -> None:
    claim = podman_cleanup.volume(unique_name("peach-ws"))
    name = podman_cleanup.pod(unique_name("peach-fail"))
    script = _script("section_counts", {"source": "data/nowhere.json"})

    result = kube_play(manifest(_pod(name, claim, podman_images, script)), timeout=300)

    assert result.exit_codes == {"provision": 0, "run": 1}
    assert 'File "notebooks/headlines.ipynb", cell 7, line 7, in section_counts' in result.logs["run"]
    assert "FileNotFoundError" in result.logs["run"]
