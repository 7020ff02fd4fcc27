"""Workspace and cleanup operators, and `gc`, against an in-memory CoreV1Api stand-in."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from airflow_taskspec import ir
from airflow_taskspec.backends import StepPlan, k8s_gc, k8s_names
from airflow_taskspec.backends.kubernetes import KubernetesCleanupOperator, KubernetesWorkspaceOperator
from airflow_taskspec.config import settings
from kubernetes.client import ApiException

NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)


def obj(name: str, labels: dict[str, str], age_hours: float = 0) -> Any:
    meta = SimpleNamespace(name=name, labels=labels, creation_timestamp=NOW - dt.timedelta(hours=age_hours))
    return SimpleNamespace(metadata=meta)


class FakeCore:
    """Ignores label selectors, like kmock: callers must filter."""

    def __init__(self) -> None:
        self.pods: dict[str, Any] = {}
        self.pvcs: dict[str, Any] = {}
        self.calls: list[tuple[str, str]] = []

    def create_namespaced_persistent_volume_claim(self, namespace: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        self.calls.append(("create-pvc", name))
        if name in self.pvcs:
            raise ApiException(status=409)
        self.pvcs[name] = obj(name, body["metadata"]["labels"])

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
        return SimpleNamespace(items=list(self.pods.values()))

    def list_namespaced_persistent_volume_claim(self, namespace: str, label_selector: str) -> Any:
        return SimpleNamespace(items=list(self.pvcs.values()))

    def delete_namespaced_pod(self, name: str, namespace: str) -> None:
        self.calls.append(("delete-pod", name))
        if self.pods.pop(name, None) is None:
            raise ApiException(status=404)

    def delete_namespaced_persistent_volume_claim(self, name: str, namespace: str) -> None:
        self.calls.append(("delete-pvc", name))
        if self.pvcs.pop(name, None) is None:
            raise ApiException(status=404)


@pytest.fixture
def core(monkeypatch: pytest.MonkeyPatch) -> FakeCore:
    fake = FakeCore()
    monkeypatch.setattr(KubernetesWorkspaceOperator, "core", lambda self: fake)
    monkeypatch.setattr(KubernetesCleanupOperator, "core", lambda self: fake)
    return fake


def ops() -> tuple[Any, Any]:
    common = {
        "plan": StepPlan(dag_id="p.t", group_id="t"),
        "task_run": ir.TaskRun(
            name="t", recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, "true"), source=ir.ProjectSource()
        ),
        "settings": replace(settings(), backend="kubernetes"),
    }
    return KubernetesWorkspaceOperator(task_id="workspace", **common), KubernetesCleanupOperator(
        task_id="cleanup", **common
    )


def test_workspace_is_created_once_and_cleanup_deletes_only_this_runs_objects(core: FakeCore) -> None:
    workspace, cleanup = ops()
    context = {"run_id": "manual__2026-11-21T10:00:00+00:00"}
    claim = workspace.execute(context)
    assert workspace.execute(context) == claim  # a retry reuses the PVC
    mine = k8s_names.run_labels("p.t", context["run_id"], "t")
    core.pods = {"mine": obj("mine", mine), "other": obj("other", {**mine, k8s_names.LABEL_TASK: "u"})}
    cleanup.execute(context)
    assert core.pvcs == {} and list(core.pods) == ["other"]
    cleanup.execute(context)  # idempotent: 404s are fine
    assert core.calls[-1] == ("delete-pvc", claim)


def test_gc_deletes_old_taskspec_objects_only(core: FakeCore) -> None:
    managed = {k8s_names.MANAGED_BY: k8s_names.MANAGER}
    core.pods = {
        "old": obj("old", managed, 7),
        "young": obj("young", managed, 1),
        "foreign": obj("foreign", {}, 9),
    }
    core.pvcs = {"old-pvc": obj("old-pvc", managed, 30)}
    listed = k8s_gc.collect_garbage(core, "default", k8s_gc.parse_duration("6h"), dry_run=True, now=NOW)
    assert [(x.kind, x.name) for x in listed] == [("pod", "old"), ("pvc", "old-pvc")]
    assert "old" in core.pods  # dry run
    k8s_gc.collect_garbage(core, "default", dt.timedelta(hours=6), now=NOW)
    assert sorted(core.pods) == ["foreign", "young"] and core.pvcs == {}


def test_durations() -> None:
    assert k8s_gc.parse_duration("6h") == dt.timedelta(hours=6)
    assert k8s_gc.parse_duration("90s") == dt.timedelta(seconds=90)
    with pytest.raises(ValueError, match="e.g. 6h"):
        k8s_gc.parse_duration("six hours")
