"""The example AME pipeline's generated manifests, run for real with `podman kube play` on locally built
images: provision, run and collect pods per task, in DAG order, sharing each task's PVC; the pipeline's
artifacts land in the (file://, host-mounted) artifact store.

The test plays the Airflow worker's part itself: it uploads the project folder (what the provision operator
does before its pod starts) and plays the manifests in the order the DAG runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from airflow_taskspec import resolve
from airflow_taskspec.backends.kubernetes import task_manifests, upload_project
from airflow_taskspec.config import settings as current_settings
from airflow_taskspec.runtime import layout
from podman_support import TestImages, kube_play, teardown, unique_name

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


def test_the_example_pipeline_runs_in_podman(podman_images: TestImages, store: Path) -> None:
    cfg = replace(
        current_settings(),
        backend="kubernetes",
        artifact_store=f"file://{store}",
        filer_image=podman_images.filer,
        executor_image=podman_images.executor,
        image_pull_policy="Never",
        artifact_conn_id="",
    )
    compilation = resolve.compile_paths([str(PROJECT)])
    workflow = next(w for w in compilation.workflows if w.dag_id == PIPELINE)
    run_id = unique_name("podman")
    upload_project(str(PROJECT), cfg)  # the worker's part of provision
    for folder, _dirs, _files in os.walk(store):  # the pods (uid 1000) write next to what we uploaded
        os.chmod(folder, 0o777)

    groups = task_manifests(workflow, cfg, run_id=run_id)
    assert [g["group"] for g in groups] == ["prepare_data", "train_linear", "train_knn", "compare"]
    pods: list[str] = []
    claims = [g["pvc"]["metadata"]["name"] for g in groups]
    try:
        for group in groups:
            for phase in ("provision", "run", "collect"):
                pod = group[phase]
                pods.append(pod["metadata"]["name"])
                docs = [group["pvc"], pod] if phase == "provision" else [pod]
                result = kube_play(yaml.safe_dump_all(docs, sort_keys=False), timeout=600)
                assert result.succeeded, f"{group['group']} {phase}: {result.exit_codes}\n{result.logs}"
    finally:
        teardown(pods, claims)

    artifacts = store / "artifacts" / "house_prices" / "train_and_compare" / layout.safe(run_id)
    report = json.loads((artifacts / "compare" / "files" / "reports" / "comparison.json").read_text())
    assert report["best"] in ("linear", "knn")
    assert {m["model"] for m in report["models"]} == {"linear", "knn"}
    assert (artifacts / "compare" / "files" / "models" / "knn.json").exists()
    assert json.loads((artifacts / "compare" / "manifest.json").read_text())["step"] == "compare"
    # Changed files travelled between steps through the store: compare saw both trained models.
    handoff = store / "runs" / "house_prices" / "train_and_compare" / layout.safe(run_id) / "train_knn" / "handoff"
    assert (handoff / "files" / "models" / "knn.json").exists()
