"""The DAG-folder loader: every good file's DAGs load, broken files show up in one placeholder DAG."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from airflow_taskspec.broken_files import BROKEN_FILES_DAG_ID
from airflow_taskspec.loader import load_dags

from tests.conftest import make_dag_folder

GOOD = """\
name: project{n}
tasks:
  - name: step
    executor: !custom
      command: echo {n}
"""
BROKEN = """\
name: broken
tasks:
  - name: bad
    executor: !custom
      command: echo hi
    resources:
      memory: ten gigabytes
"""


def test_twenty_good_files_load_in_dagbag_next_to_a_broken_one(tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    projects = {f"p{n:02d}": GOOD.format(n=n) for n in range(20)}
    projects["zz_broken"] = BROKEN
    folder = make_dag_folder(tmp_path / "dags", projects)

    bag = DagBag(str(folder))

    assert bag.import_errors == {}  # the loader module itself never fails
    assert {f"project{n}.step" for n in range(20)} <= set(bag.dags)
    broken = bag.dags[BROKEN_FILES_DAG_ID]
    where = f"{folder / 'zz_broken' / 'ame.yaml'}:7:7"  # the resource's key
    assert where in broken.doc_md
    assert "not a Kubernetes quantity" in broken.doc_md
    assert "1 spec file(s) failed" in broken.dag_display_name
    assert broken.dag_display_name.startswith("!")  # sorts first in the UI's DAG list
    assert broken.description.startswith(where)  # the first error, shown on hover in the DAG list
    assert broken.get_task("report_errors").errors[str(folder / "zz_broken" / "ame.yaml")][0].startswith(where)



def test_dagbag_validates_and_bags_each_dag_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A DAG registered both by its context and in the module's namespace, whose task ids change after the
    context closes (the teardown), was found twice by Airflow: every DAG validated and bagged twice a parse."""
    from collections import Counter

    from airflow.dag_processing.dagbag import DagBag

    folder = make_dag_folder(tmp_path / "dags", {f"p{n}": GOOD.format(n=n) for n in range(3)})
    bagged: Counter[str] = Counter()
    real = DagBag.bag_dag

    def counting(self: DagBag, dag: object) -> None:
        bagged[dag.dag_id] += 1  # type: ignore[attr-defined]
        real(self, dag)  # type: ignore[arg-type]

    monkeypatch.setattr(DagBag, "bag_dag", counting)
    bag = DagBag(str(folder))

    assert set(bag.dags) == {f"project{n}.step" for n in range(3)}
    assert bagged == {f"project{n}.step": 1 for n in range(3)}


def test_no_placeholder_dag_when_every_file_compiles(tmp_path: Path) -> None:
    folder = make_dag_folder(tmp_path / "dags", {"one": GOOD.format(n=1)})
    dags = load_dags(str(folder / "taskspec_dags.py"), {})
    assert [d.dag_id for d in dags] == ["project1.step"]


def test_when_airflow_runs_a_task_only_that_dag_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_dag_folder(tmp_path / "dags", {f"p{n}": GOOD.format(n=n) for n in range(3)} | {"b": BROKEN})
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "project2.step")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "step")
    namespace: dict[str, object] = {}
    dags = load_dags(str(folder / "taskspec_dags.py"), namespace)
    assert [d.dag_id for d in dags] == ["project2.step"]
    assert list(namespace.values()) == dags


def test_an_unexpected_failure_becomes_the_placeholder_not_an_exception(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_taskspec import build

    folder = make_dag_folder(tmp_path / "dags", {"one": GOOD.format(n=1), "two": GOOD.format(n=2)})

    def explode(workflow, backend):  # type: ignore[no-untyped-def]
        if workflow.dag_id == "project1.step":
            raise RuntimeError("boom")
        return original(workflow, backend)

    original = build.build_dag
    monkeypatch.setattr(build, "build_dag", explode)
    dags = {d.dag_id: d for d in load_dags(str(folder), {})}
    assert "project2.step" in dags
    assert "DAG project1.step cannot be built with the local backend: boom" in dags[BROKEN_FILES_DAG_ID].doc_md


def test_airflowignore_hides_a_project_from_the_loader(tmp_path: Path) -> None:
    folder = make_dag_folder(tmp_path / "dags", {"kept": GOOD.format(n=1), "hidden": GOOD.format(n=2)})
    (folder / ".airflowignore").write_text("hidden/\n")
    assert [d.dag_id for d in load_dags(str(folder), {})] == ["project1.step"]
    shutil.rmtree(folder / "hidden")


def test_the_parse_that_fixes_the_last_broken_file_writes_the_placeholder_resolved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow drops a DAG a file stopped producing only at a later cleanup scan; the fixing parse itself
    replaces the broken state (broken_files.py), and the parse after it no longer has the placeholder."""
    from airflow_taskspec.broken_files import RESOLVED_DISPLAY_NAME

    monkeypatch.setenv("TASKSPEC_COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    folder = make_dag_folder(tmp_path / "dags", {"one": GOOD.format(n=1), "b": BROKEN})
    broken = {d.dag_id: d for d in load_dags(str(folder), {})}
    assert "1 spec file(s) failed" in broken[BROKEN_FILES_DAG_ID].dag_display_name

    (folder / "b" / "ame.yaml").write_text(GOOD.format(n=2))
    fixed = {d.dag_id: d for d in load_dags(str(folder), {})}
    assert set(fixed) == {"project1.step", "project2.step", BROKEN_FILES_DAG_ID}
    resolved = fixed[BROKEN_FILES_DAG_ID]
    assert resolved.dag_display_name == RESOLVED_DISPLAY_NAME
    assert "taskspec-error" not in resolved.tags and "failed" not in (resolved.doc_md or "")
    resolved.get_task("report_errors").execute({})  # running it succeeds: nothing is broken

    assert sorted(d.dag_id for d in load_dags(str(folder), {})) == ["project1.step", "project2.step"]


def test_a_worker_running_the_resolved_entry_builds_it_and_leaves_the_marker_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKSPEC_COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    folder = make_dag_folder(tmp_path / "dags", {"b": BROKEN})
    load_dags(str(folder), {})
    (folder / "b" / "ame.yaml").write_text(GOOD.format(n=2))
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", BROKEN_FILES_DAG_ID)
    assert [d.dag_id for d in load_dags(str(folder), {})] == [BROKEN_FILES_DAG_ID]
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID")
    assert BROKEN_FILES_DAG_ID in {d.dag_id for d in load_dags(str(folder), {})}  # the DAG processor's turn
