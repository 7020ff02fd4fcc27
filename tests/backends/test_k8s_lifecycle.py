"""The kubernetes step operator's lifecycle against an in-memory CoreV1Api stand-in and stand-in phase pods:
the order of API calls, a fresh PVC per try, collect after a failed command, cleanup whatever happened, the
run's teardown and `gc`. (The real KubernetesPodOperator against a fake API server: tests/integration.)"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowTaskTimeout
from airflow_taskspec import ir
from airflow_taskspec.backends import StepPlan, k8s_gc, k8s_names
from airflow_taskspec.backends.kubernetes import KubernetesRunTeardownOperator, KubernetesStepOperator
from airflow_taskspec.backends.step import StepState
from airflow_taskspec.config import settings
from kubernetes.client import ApiException

NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
RUN_ID = "manual__2026-11-21T10:00:00+00:00"


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


class FakePhasePod:
    """Stands for the KubernetesPodOperator of one phase: creates a pod object, then ends as told."""

    def __init__(self, core: FakeCore, phase: str, labels: dict[str, str], outcome: str) -> None:
        self.core, self.phase, self.labels, self.outcome = core, phase, labels, outcome
        self.killed = False

    def start(self, context: Any) -> None:
        name = f"{self.phase}-pod"
        self.core.calls.append(("create-pod", name))
        self.core.pods[name] = obj(name, {**self.labels, k8s_names.LABEL_PHASE: self.phase})
        if self.outcome == "fail":
            raise AirflowException(f"Pod {name} returned a failure.")
        if self.outcome == "timeout":
            raise AirflowTaskTimeout()
        if self.outcome == "no-retry":
            raise AirflowFailException("the filer image is too old")
        self.core.pods.pop(name)  # the provider deletes a finished pod
        self.core.calls.append(("delete-pod", name))

    def on_kill(self) -> None:
        self.killed = True

    def failure_line(self, error: BaseException) -> str:  # k8s_failures reads the pod's status
        return "the command exited with code 3" if self.outcome == "fail" else str(error)


@pytest.fixture
def core(monkeypatch: pytest.MonkeyPatch) -> FakeCore:
    fake = FakeCore()
    monkeypatch.setattr("airflow_taskspec.backends.kubernetes.core_api", lambda settings: fake)
    return fake


def step(core: FakeCore, outcomes: dict[str, str] | None = None, **run_changes: Any) -> KubernetesStepOperator:
    run = ir.TaskRun(name="t", recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, "true"), source=ir.ProjectSource(),
                     artifacts=ir.Artifacts(save_changed_files=True))
    op = KubernetesStepOperator(
        plan=StepPlan(dag_id="p.t", step="t", earlier_steps=("before",)),
        settings=replace(settings(), backend="kubernetes", artifact_store="memory://lifecycle"),
        task_run=replace(run, **run_changes),
    )
    wanted = outcomes or {}

    def phase_pod(phase: str, job: Any) -> FakePhasePod:
        labels = k8s_names.step_labels("p.t", job.names.run_id, "t", job.names.try_number)
        op.spawned.append(phase)
        return FakePhasePod(core, phase, labels, wanted.get(phase, "succeed"))

    op.spawned = []  # type: ignore[attr-defined]
    op.phase_pod = phase_pod  # type: ignore[method-assign]
    return op


def context(try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="p.t", task_id="t", run_id=RUN_ID, try_number=try_number, start_date=None,
                         xcom_push=lambda **kw: None)
    return {"run_id": RUN_ID, "ti": ti}


def claim(try_number: int) -> str:
    return k8s_names.claim_name("p.t", RUN_ID, "t", try_number)


def test_one_pvc_then_three_pods_in_order_then_nothing_left(core: FakeCore) -> None:
    op = step(core)
    op.execute(context())
    c = claim(1)
    assert core.calls == [
        ("create-pvc", c),
        ("create-pod", "provision-pod"), ("delete-pod", "provision-pod"),
        ("create-pod", "run-pod"), ("delete-pod", "run-pod"),
        ("create-pod", "collect-pod"), ("delete-pod", "collect-pod"),
        ("delete-pvc", c),
    ]
    assert core.pods == {} and core.pvcs == {}


def test_a_failed_command_is_collected_then_fails_the_step_and_nothing_is_left(core: FakeCore) -> None:
    op = step(core, {"run": "fail"})
    with pytest.raises(AirflowException, match="taskspec: run failed: the command exited with code 3") as err:
        op.execute(context())
    assert type(err.value) is AirflowException  # retryable, as a failed command is
    assert op.spawned == ["provision", "run", "collect"]  # type: ignore[attr-defined]
    assert core.pods == {} and core.pvcs == {}  # the failed run pod and the PVC: deleted


def test_a_timeout_stays_a_timeout_and_a_no_retry_failure_stays_one(core: FakeCore) -> None:
    with pytest.raises(AirflowTaskTimeout, match="deadline exceeded"):
        step(core, {"run": "timeout"}).execute(context())
    assert core.pods == {} and core.pvcs == {}
    with pytest.raises(AirflowFailException, match="the filer image is too old"):
        step(core, {"provision": "no-retry"}).execute(context())
    assert core.pods == {} and core.pvcs == {}


def test_a_provision_failure_runs_nothing_after_it_but_cleanup(core: FakeCore) -> None:
    op = step(core, {"provision": "fail"})
    with pytest.raises(AirflowException, match="taskspec: provision failed"):
        op.execute(context())
    assert op.spawned == ["provision"]  # type: ignore[attr-defined]
    assert core.pvcs == {} and core.pods == {}


def test_an_invalid_typed_value_fails_the_step_before_its_pvc_or_any_pod(core: FakeCore) -> None:
    # A run created around Airflow's own param validation (e.g. a conf that bypassed the form) still stops here.
    tiles = ir.Param(name="tiles", type=ir.ParamType.INTEGER, default="4", maximum=16)
    op = step(core, inputs=(ir.TaskInput(name="tiles", param=tiles),))
    with pytest.raises(AirflowException, match="bad input for this run: .*17 is greater than the maximum of 16"):
        op.execute({**context(), "params": {"tiles": 17}})
    assert ("create-pvc", claim(1)) not in core.calls
    assert op.spawned == []  # type: ignore[attr-defined]
    assert core.pods == {} and core.pvcs == {}


def test_a_phase_with_nothing_to_do_spawns_no_pod(core: FakeCore) -> None:
    # The image carries the project, no earlier step, nothing saved: only the executor pod.
    op = step(core, artifacts=ir.Artifacts())
    op.plan = StepPlan(dag_id="p.t", step="t")
    op.execute(context())
    assert op.spawned == ["run"]  # type: ignore[attr-defined]


def test_a_new_try_gets_a_fresh_pvc_and_removes_what_the_last_try_left(core: FakeCore) -> None:
    # Try 1's worker died: its PVC and a running pod are still there.
    old = k8s_names.step_labels("p.t", RUN_ID, "t", 1)
    core.pvcs[claim(1)] = obj(claim(1), old)
    core.pods["run-pod-of-try-1"] = obj("run-pod-of-try-1", {**old, k8s_names.LABEL_PHASE: "run"})
    other_step = k8s_names.step_labels("p.t", RUN_ID, "u", 1)
    core.pods["other-step"] = obj("other-step", other_step)

    step(core).execute(context(try_number=2))

    assert claim(2) != claim(1)
    assert core.calls[:3] == [("delete-pod", "run-pod-of-try-1"), ("delete-pvc", claim(1)), ("create-pvc", claim(2))]
    assert list(core.pods) == ["other-step"] and core.pvcs == {}


def test_on_kill_deletes_the_running_pod_and_the_pvc(core: FakeCore) -> None:
    op = step(core)
    ctx = context()
    op.phase_workspace(ctx, StepState())
    op._pod = FakePhasePod(core, "run", k8s_names.step_labels("p.t", RUN_ID, "t", 1), "succeed")
    core.pods["run-pod"] = obj("run-pod", k8s_names.step_labels("p.t", RUN_ID, "t", 1))
    op.on_kill()
    assert op._pod.killed and core.pods == {} and core.pvcs == {}


def test_the_run_teardown_deletes_every_leftover_of_its_run_only(core: FakeCore) -> None:
    mine = k8s_names.step_labels("p.t", RUN_ID, "t", 1)
    core.pods = {
        "mine": obj("mine", mine),
        "mine-other-step": obj("mine-other-step", k8s_names.step_labels("p.t", RUN_ID, "u", 3)),
        "other-run": obj("other-run", k8s_names.step_labels("p.t", "scheduled__x", "t", 1)),
        "other-dag": obj("other-dag", k8s_names.step_labels("q.t", RUN_ID, "t", 1)),
    }
    core.pvcs = {claim(1): obj(claim(1), mine)}
    teardown = KubernetesRunTeardownOperator(task_id="taskspec_teardown", dag_id="p.t",
                                             settings=replace(settings(), backend="kubernetes"))
    gone = teardown.execute({"run_id": RUN_ID})
    assert gone == ["pod/mine", "pod/mine-other-step", f"PVC/{claim(1)}"]
    assert sorted(core.pods) == ["other-dag", "other-run"] and core.pvcs == {}


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
