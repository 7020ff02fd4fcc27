"""Each step's operator (the kubernetes backend's KubernetesStepOperator) runs for real with podman underneath:
it creates its workspace (a podman volume) and spawns its provision, run and collect pods one after the
other (`podman kube play` of the manifests the pod operator would create), skipping a phase with nothing to
do, then deletes everything. The example pipeline's artifacts land in the (file://, host-mounted) store; a
failing command's partial outputs are saved and the step fails with the command's exit code.

The test plays the scheduler's part: it runs the steps in DAG order, then the run's teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException
from airflow_taskspec import build, ir, resolve
from airflow_taskspec.backends import StepPlan
from airflow_taskspec.backends.kubernetes import KubernetesBackend, KubernetesStepOperator, upload_project
from airflow_taskspec.config import Settings
from airflow_taskspec.config import settings as current_settings
from airflow_taskspec.runtime import layout
from podman_support import PodmanCluster, TestImages, unique_name

from tests.conftest import FAILING

pytestmark = [pytest.mark.integration, pytest.mark.podman]

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "dags" / "examples" / "house_prices"
PIPELINE = "house_prices.train_and_compare"


@pytest.fixture
def store() -> Iterator[Path]:
    # Not pytest's tmp_path: the pods run as uid 1000 and must traverse every parent folder.
    root = Path(tempfile.mkdtemp(prefix="taskspec-podman-store-"))
    root.chmod(0o777)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster(podman_images: TestImages, monkeypatch: pytest.MonkeyPatch) -> Iterator[PodmanCluster]:
    fake = PodmanCluster()
    monkeypatch.setattr("airflow_taskspec.backends.kubernetes.core_api", lambda settings: fake)
    yield fake
    from podman_support import teardown

    left = fake.leftovers()
    teardown(left, left)  # only if a test failed half-way


def cfg(images: TestImages, store: Path) -> Settings:
    return replace(
        current_settings(),
        backend="kubernetes",
        artifact_store=f"file://{store}",
        filer_image=images.filer,
        executor_image=images.executor,
        image_pull_policy="Never",
        artifact_conn_id="",
    )


def context(dag_id: str, task_id: str, run_id: str) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, try_number=1, start_date=None,
                         xcom_push=lambda **kw: None)
    return {"run_id": run_id, "ti": ti}


def uploaded(folder: Path, settings: Settings, store: Path) -> None:
    """The worker's upload of the project, done ahead so the pods (uid 1000) may write beside it."""
    upload_project(str(folder), settings)
    for sub, _dirs, _files in os.walk(store):
        os.chmod(sub, 0o777)


def test_the_example_pipeline_runs_as_its_step_operators_spawn_the_pods(
    podman_images: TestImages, store: Path, cluster: PodmanCluster
) -> None:
    settings = cfg(podman_images, store)
    workflow = next(w for w in resolve.compile_paths([str(PROJECT)]).workflows if w.dag_id == PIPELINE)
    dag = build.build_dag(workflow, KubernetesBackend(settings))
    uploaded(PROJECT, settings, store)
    run_id = unique_name("podman")

    steps = [t for t in dag.topological_sort() if isinstance(t, KubernetesStepOperator)]
    assert steps[0].task_id == "prepare_data" and steps[-1].task_id == "compare"
    for step in steps:
        cluster.attach(step)
        step.execute(context(PIPELINE, step.task_id, run_id))
    dag.get_task("taskspec_teardown").execute({"run_id": run_id})

    played = [(s, phase) for s, phase, _ in cluster.played]
    assert played == [(s.task_id, p) for s in steps for p in ("provision", "run", "collect")]
    assert all(result.succeeded for _, _, result in cluster.played)
    assert cluster.leftovers() == []  # every step deleted its pods and volume
    artifacts = store / "artifacts" / "house_prices" / "train_and_compare" / layout.safe(run_id)
    report = json.loads((artifacts / "compare" / "files" / "reports" / "comparison.json").read_text())
    assert report["best"] in ("linear", "knn")
    assert {m["model"] for m in report["models"]} == {"linear", "knn"}
    assert (artifacts / "compare" / "files" / "models" / "knn.json").exists()
    assert json.loads((artifacts / "compare" / "manifest.json").read_text())["step"] == "compare"
    # Changed files travelled between steps through the store: compare saw both trained models.
    handoff = store / "runs" / "house_prices" / "train_and_compare" / layout.safe(run_id) / "train_knn" / "handoff"
    assert (handoff / "files" / "models" / "knn.json").exists()




def test_a_failing_command_keeps_its_partial_outputs_and_fails_the_step(
    podman_images: TestImages, store: Path, cluster: PodmanCluster, tmp_path: Path
) -> None:
    project = tmp_path / "failing"
    project.mkdir()
    (project / "ame.yaml").write_text(FAILING)
    settings = cfg(podman_images, store)
    dag = build.build_dag(resolve.compile_paths([str(project)]).workflows[0], KubernetesBackend(settings))
    uploaded(project, settings, store)
    step = dag.get_task("breaks")
    cluster.attach(step)
    run_id = unique_name("podman")

    with pytest.raises(AirflowException) as err:
        step.execute(context("failing.breaks", "breaks", run_id))

    assert str(err.value) == (
        "taskspec: run failed: the command exited with code 3 (1 output file(s) were saved first)"
    )
    assert [phase for _, phase, _ in cluster.played] == ["provision", "run", "collect"]
    assert "about to fail" in cluster.played[1][2].logs["base"]
    assert (store / "artifacts" / "failing" / "breaks" / layout.safe(run_id) / "breaks" / "files" / "partial.txt").read_text() == (
        "partial result\n"
    )
    assert cluster.leftovers() == []


def test_a_step_whose_image_carries_everything_spawns_only_its_executor_pod(
    podman_images: TestImages, store: Path, cluster: PodmanCluster
) -> None:
    run = ir.TaskRun(name="alone", recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, "echo from the image"),
                     source=ir.ProjectSource())
    step = KubernetesStepOperator(plan=StepPlan(dag_id="p.alone", step="alone"),
                                  settings=cfg(podman_images, store), task_run=run)
    cluster.attach(step)
    assert step.execute(context("p.alone", "alone", unique_name("podman"))) == []
    assert [phase for _, phase, _ in cluster.played] == ["run"]
    assert "from the image" in cluster.played[0][2].logs["base"]
    assert cluster.leftovers() == []
