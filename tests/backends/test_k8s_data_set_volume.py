"""``[taskspec] data_set_volume_claim``: a shared volume holding the artifact store's data sets. A step that
reads data sets gets it read-only in its executor and collect pods, and its provision pod links the data-set
paths into it instead of copying; unset (or a step without data sets), the pods are as before. The manifests
stay valid Kubernetes and meet the restricted Pod Security Standard."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import kubernetes_validate
import pytest
from airflow_taskspec import config, ir
from airflow_taskspec.backends import StepPlan
from airflow_taskspec.backends.kubernetes import KubernetesStepOperator
from airflow_taskspec.config import ConfigError, settings

from tests.test_render import VERSIONS, restricted_violations

PLAN = StepPlan(dag_id="proj.train", step="train")
NUMBERS = ir.DataSetUse(project="proj", name="numbers", path="data/numbers", uri="taskspec://proj/numbers")
VOLUME = {"name": "data-sets", "persistentVolumeClaim": {"claimName": "shared-store", "readOnly": True}}


def cfg(**changes: Any) -> Any:
    fields = {"backend": "kubernetes", "artifact_store": "s3://bucket/ts", "artifact_conn_id": "", **changes}
    return replace(settings(), **fields)


def manifests(settings: Any, **run_changes: Any) -> dict[str, Any]:
    run = ir.TaskRun(name="train", recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, "wc -l data/numbers/*"),
                     source=ir.ProjectSource(folder=None), artifacts=ir.Artifacts(paths=("out.txt",)),
                     data_sets=(NUMBERS,))
    step = KubernetesStepOperator(plan=PLAN, settings=settings, task_run=replace(run, **run_changes))
    return dict(step.manifests())


def spec_of(provision: dict[str, Any]) -> dict[str, Any]:
    command = provision["spec"]["containers"][0]["command"]
    return dict(json.loads(command[command.index("--spec") + 1]))


def volumes(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in pod["spec"].get("volumes") or [] if v["name"] == "data-sets"]


def mounts(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in pod["spec"]["containers"][0].get("volumeMounts") or [] if m["name"] == "data-sets"]


def test_the_executor_and_collect_pods_mount_the_shared_volume_read_only_and_provision_links_into_it() -> None:
    found = manifests(cfg(data_set_volume_claim="shared-store", data_set_volume_path="taskspec/store"))
    for phase in ("run", "collect"):
        assert volumes(found[phase]) == [VOLUME], phase
        assert mounts(found[phase]) == [{"name": "data-sets", "mountPath": "/taskspec/store", "readOnly": True,
                                         "subPath": "taskspec/store"}], phase
    assert volumes(found["provision"]) == [] and mounts(found["provision"]) == []  # it reads the store itself
    spec = spec_of(found["provision"])
    assert spec["data_sets"] == [{"url": "s3://bucket/ts/datasets/proj/numbers", "path": "data/numbers"}]
    assert spec["data_sets_mounted"] == {"store": "s3://bucket/ts", "path": "/taskspec/store"}
    for phase in ("provision", "run", "collect"):
        for version in VERSIONS:
            kubernetes_validate.validate(found[phase], version, strict=True)
        assert restricted_violations(found[phase]) == [], phase


def test_the_volume_root_is_the_claims_root_when_no_path_is_given() -> None:
    found = manifests(cfg(data_set_volume_claim="shared-store"))
    assert mounts(found["run"]) == [{"name": "data-sets", "mountPath": "/taskspec/store", "readOnly": True}]


NOTE = ir.TaskInput(name="note", path="note.txt", content="x")  # so that the step still has a provision pod


@pytest.mark.parametrize(("options", "run_changes"), [
    ({}, {}),
    ({"data_set_volume_claim": "shared-store"}, {"data_sets": (), "inputs": (NOTE,)}),
], ids=["option-unset", "step-without-data-sets"])
def test_without_the_option_or_without_data_sets_nothing_changes(options: dict[str, Any],
                                                                 run_changes: dict[str, Any]) -> None:
    found = manifests(cfg(**options), **run_changes)
    for phase in ("provision", "run", "collect"):
        assert volumes(found[phase]) == [] and mounts(found[phase]) == [], phase
    assert "data_sets_mounted" not in spec_of(found["provision"])  # older filer images read the spec as before


@pytest.mark.parametrize("path", ["/abs/store", "store/../../etc"])
def test_a_volume_path_that_leaves_the_volume_is_a_config_error(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setenv("AIRFLOW__TASKSPEC__DATA_SET_VOLUME_PATH", path)
    with pytest.raises(ConfigError, match=r"\[taskspec\] data_set_volume_path = .* must be a relative path inside "
                                          r"the volume, without '\.\.'.*AIRFLOW__TASKSPEC__DATA_SET_VOLUME_PATH"):
        config.settings()
