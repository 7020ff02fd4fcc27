"""The step's extra links, per task instance (the REST/UI side is tests/integration/test_step_links.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from airflow_taskspec.backends.links import StepArtifactStoreLink, StepOutputsLink


@dataclass
class FakeTry:
    """What the worker hands get_link at the end of a try: a task instance that can pull its XComs."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    xcoms: dict[str, Any]

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        assert (task_ids, map_indexes) == (self.task_id, self.map_index)
        return self.xcoms.get(key)


MANIFEST = {"artifact_url": "s3://bucket/artifacts/p/t/manual__2026-12-02T05-00-00+00-00/compare", "artifacts": []}


def test_the_outputs_link_is_this_task_instances_xcom_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080/")
    ti = FakeTry("p.t", "manual__2026-12-02T05:00:00+00:00", "compare", -1, {"output_manifest": MANIFEST})
    assert StepOutputsLink().get_link(None, ti_key=ti) == (
        "http://airflow.example:8080/dags/p.t/runs/manual__2026-12-02T05%3A00%3A00%2B00%3A00/tasks/compare/xcom")
    mapped = FakeTry("p.t", "r1", "compare", 3, {"output_manifest": MANIFEST})
    assert StepOutputsLink().get_link(None, ti_key=mapped).endswith("/runs/r1/tasks/compare/mapped/3/xcom")
    assert StepArtifactStoreLink().get_link(None, ti_key=ti) == MANIFEST["artifact_url"]


def test_a_step_that_saved_nothing_has_empty_links() -> None:
    ti = FakeTry("p.t", "r1", "prepare", -1, {})
    assert StepOutputsLink().get_link(None, ti_key=ti) == ""
    assert StepArtifactStoreLink().get_link(None, ti_key=ti) == ""
