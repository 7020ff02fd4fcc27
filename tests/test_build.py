"""The DAGs built from the examples: task ids, dependencies, parallel branches, schedule, tags, docs. No database."""

from __future__ import annotations

from typing import Any

import pytest
from airflow_taskspec import build, resolve
from airflow_taskspec.backends.local import LocalBackend
from airflow_taskspec.config import settings

from tests.conftest import EXAMPLES

PHASES = ("workspace", "provision", "run", "collect", "cleanup")


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    compilation = resolve.compile_paths([str(EXAMPLES)])
    assert not compilation.errors
    backend = LocalBackend(settings())
    return {wf.dag_id: build.build_dag(wf, backend) for wf in compilation.workflows}


def upstream(dag: Any, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).upstream_task_ids)


def test_one_dag_per_ame_task(dags: dict[str, Any]) -> None:
    assert sorted(dags) == [
        "hello.daily_greeting", "house_prices.compare", "house_prices.prepare_data",
        "house_prices.train_and_compare", "house_prices.train_knn", "house_prices.train_linear",
    ]


def test_every_task_run_is_a_group_of_five_phases(dags: dict[str, Any]) -> None:
    dag = dags["house_prices.train_and_compare"]
    groups = ("prepare_data", "train_linear", "train_knn", "compare")
    assert set(dag.task_ids) == {f"{g}.{p}" for g in groups for p in PHASES}
    for g in groups:
        assert upstream(dag, f"{g}.provision") == {f"{g}.workspace"}
        assert upstream(dag, f"{g}.run") == {f"{g}.provision"}
        assert upstream(dag, f"{g}.collect") == {f"{g}.run"}
        assert upstream(dag, f"{g}.cleanup") == {f"{g}.collect", f"{g}.workspace"}
        assert dag.get_task(f"{g}.workspace").is_setup
        assert dag.get_task(f"{g}.cleanup").is_teardown
        assert dag.get_task(f"{g}.collect").trigger_rule == "all_done_setup_success"


def test_pipeline_steps_are_wired_as_written(dags: dict[str, Any]) -> None:
    dag = dags["house_prices.train_and_compare"]
    # prepare -> (linear || knn) -> compare: the nested list runs in parallel
    assert upstream(dag, "prepare_data.workspace") == set()
    assert upstream(dag, "train_linear.workspace") == {"prepare_data.collect"}
    assert upstream(dag, "train_knn.workspace") == {"prepare_data.collect"}
    assert upstream(dag, "compare.workspace") == {"train_linear.collect", "train_knn.collect"}
    assert "train_knn.workspace" not in dag.get_task("train_linear.collect").downstream_task_ids


def test_steps_receive_the_changed_files_of_every_earlier_step(dags: dict[str, Any]) -> None:
    dag = dags["house_prices.train_and_compare"]
    plan = lambda g: dag.get_task(f"{g}.provision").plan
    assert plan("prepare_data").earlier_steps == ()
    assert plan("train_knn").earlier_steps == ("prepare_data",)
    assert plan("compare").earlier_steps == ("prepare_data", "train_linear", "train_knn")
    assert plan("compare").hands_on is False and plan("train_knn").hands_on is True


def test_schedule_catchup_tags_and_docs(dags: dict[str, Any]) -> None:
    hello = dags["hello.daily_greeting"]
    assert hello.schedule == "0 6 * * *"
    assert hello.catchup is False
    assert set(hello.tags) == {"ame", "hello"}
    assert dags["house_prices.train_and_compare"].schedule is None
    doc = dags["house_prices.train_and_compare"].doc_md
    assert "name: house_prices" in doc and "taskRef: prepare_data" in doc
    assert dags["house_prices.train_and_compare"].dag_display_name == "house_prices / train_and_compare"


def test_the_task_runs_carry_the_ame_settings(dags: dict[str, Any]) -> None:
    run = dags["house_prices.train_and_compare"].get_task("train_knn.run").task_run
    assert run.recipe.kind.value == "pip" and run.recipe.python_version == "3.11"
    assert [(e.name, e.value) for e in run.env] == [("KNN_NEIGHBOURS", "7")]
    prep = dags["house_prices.prepare_data"].get_task("prepare_data.run").task_run
    assert (prep.resources.cpu, prep.resources.memory) == ("500m", "512Mi")


CONSUMER = """\
name: shop
dataSets:
  - name: listings
    path: data
    task:
      name: scrape
      executor: !custom
        command: mkdir -p data && echo x > data/x.csv
tasks:
  - name: report
    executor: !custom
      command: ls data
    dataSets:
      - listings
"""


def test_a_consumer_waits_for_its_data_set_deferred_and_before_its_workspace_exists(tmp_path: Any) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "ame.yaml").write_text(CONSUMER)
    compilation = resolve.compile_paths([str(tmp_path)])
    assert not compilation.errors, compilation.errors
    [workflow] = [w for w in compilation.workflows if w.dag_id == "shop.report"]
    dag = build.build_dag(workflow, LocalBackend(settings()))
    gate = dag.get_task("report.ensure_listings")
    assert gate.deferrable is True and gate.wait_for_completion is True
    assert "report.ensure_listings" in upstream(dag, "report.workspace")


def test_the_gate_trusts_only_a_committed_version(tmp_path: Any, monkeypatch: Any) -> None:
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow_taskspec.backends.phases import EnsureDataSetOperator
    from airflow_taskspec.runtime import datasets, store

    triggered: list[str] = []
    monkeypatch.setattr(TriggerDagRunOperator, "execute", lambda self, context: triggered.append(self.trigger_dag_id))
    monkeypatch.setenv("AIRFLOW__TASKSPEC__ARTIFACT_STORE", f"file://{tmp_path}/store")
    url = f"file://{tmp_path}/store/datasets/shop/listings"
    gate = EnsureDataSetOperator(task_id="ensure_listings", trigger_dag_id="shop.listings", data_set_url=url,
                                 settings=settings())
    half = tmp_path / "store" / "datasets" / "shop" / "listings" / "v000001-dead" / "files"
    half.mkdir(parents=True)
    (half / "x.csv").write_text("half\n")
    gate.execute({})
    assert triggered == ["shop.listings"]  # an uncommitted version is no version: the producer runs

    (tmp_path / "p" / "data").mkdir(parents=True)
    (tmp_path / "p" / "data" / "x.csv").write_text("x\n")
    datasets.publish_version(str(tmp_path / "p"), "data", store.locate(url), keep=2)
    gate.execute({})
    assert triggered == ["shop.listings"]  # committed now: not run again
    store.make_writable(str(tmp_path / "store"))
