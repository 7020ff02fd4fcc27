"""The PEACH example as Airflow DAGs (no database): loops, order, failure handling, timeouts, params, tags, and
the kubernetes run pod of a notebook task."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from airflow_taskspec import build, config, resolve
from airflow_taskspec.backends.kubernetes import KubernetesBackend, KubernetesStepOperator
from airflow_taskspec.backends.local import LocalBackend

from tests.conftest import EXAMPLES

DEMO = EXAMPLES / "peach_demo"


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    c = resolve.compile_paths([str(DEMO)])
    assert c.errors == {}
    backend = LocalBackend(config.settings())
    return {w.dag_id: build.build_dag(w, backend) for w in c.workflows}


def _upstream(dag: Any, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).upstream_task_ids)


def test_organisation_loops_run_continuously_one_at_a_time(dags: dict[str, Any]) -> None:
    assert sorted(dags) == ["peach.debr", "peach.metadata", "peach.zzebu"]
    for dag in dags.values():
        assert type(dag.timetable).__name__ == "ContinuousTimetable" and dag.max_active_runs == 1
    assert dags["peach.zzebu"].tags == {"peach", "zzebu"}
    assert dags["peach.metadata"].tags == {"peach", "metadata", "debr", "zzebu"}


def test_tasks_run_one_by_one_and_a_failure_does_not_stop_the_next(dags: dict[str, Any]) -> None:
    dag = dags["peach.zzebu"]
    assert _upstream(dag, "word_stats") == {"rank_headlines"}
    assert dag.get_task("word_stats").trigger_rule == "all_done"
    assert dag.get_task("rank_headlines").trigger_rule == "all_success"
    # The run ends failed when any task failed: loop_result needs every task to have succeeded.
    assert _upstream(dag, "loop_result") == {"rank_headlines", "word_stats"}
    assert dag.get_task("loop_result").trigger_rule == "all_success"


def test_only_the_steps_carry_the_loops_params(dags: dict[str, Any]) -> None:
    """Each step sees every param of its DAG; loop_result and the teardown read none, so they carry no copy
    (Airflow deep-copies a DAG's params into every operator built in its context: the parse benchmark's cost)."""
    dag = dags["peach.zzebu"]
    assert set(dag.get_task("rank_headlines").params) == set(dag.params) == {
        "rank_headlines.source", "rank_headlines.top", "rank_headlines.weights", "word_stats.min_length",
        "word_stats.report"}
    assert dict(dag.get_task("loop_result").params) == {}
    assert dict(dag.get_task("taskspec_teardown").params) == {}
    assert {dag.get_task(t).owner for t in dag.task_ids} == {dag.get_task("rank_headlines").owner}


def test_execution_timeouts_are_one_hour_and_five_minutes_in_the_metadata_loop(dags: dict[str, Any]) -> None:
    assert dags["peach.zzebu"].get_task("rank_headlines").execution_timeout == timedelta(hours=1)
    metadata = dags["peach.metadata"]
    steps = ["debr.fetch_feed", "zzebu.section_counts"]
    assert sorted(set(metadata.task_ids) - {"loop_result", "taskspec_teardown"}) == steps
    assert {metadata.get_task(t).execution_timeout for t in steps} == {timedelta(minutes=5)}


def test_args_are_typed_params_with_the_yaml_defaults(dags: dict[str, Any]) -> None:
    params = dags["peach.zzebu"].params
    assert params.dump() == {
        "rank_headlines.source": "data/articles.json", "rank_headlines.top": 2,
        "rank_headlines.weights": {"election": 3, "storm": 2, "local": [1, 0.5]},
        "word_stats.min_length": 5, "word_stats.report": {"top": 3},
    }
    # With a YAML default, null is allowed (the trigger form does not require the field; null means the default).
    assert params.get_param("rank_headlines.top").schema["type"] == ["integer", "null"]
    assert params.get_param("rank_headlines.weights").schema["type"] == ["object", "null"]
    assert params.get_param("rank_headlines.source").schema["type"] == ["string", "null"]
    doc = dags["peach.zzebu"].doc_md
    assert "`airflow dags trigger peach.zzebu --conf '{\"rank_headlines.source\": \"data/articles.json\", " in doc
    assert "`POST /api/v2/dags/peach.zzebu/dagRuns`" in doc  # the DAG's own id, not a placeholder
    assert "a key that is no param fails the run" in doc
    # The UI's one-line description is a whole sentence, not the docs cut at 200 characters.
    assert dags["peach.zzebu"].description == ("Runs its tasks one after the other, again and again; a failed task "
                                               "does not stop the next one.")


def test_the_kubernetes_run_pod_of_a_notebook_task(monkeypatch: pytest.MonkeyPatch) -> None:
    c = resolve.compile_paths([str(DEMO)], only_dag_id="peach.debr")
    [wf] = c.workflows
    settings = dataclasses.replace(config.settings(), backend="kubernetes",
                                   peach_images={"debr.base": "registry.example/debr-base:7"})
    dag = build.build_dag(wf, KubernetesBackend(settings))
    step = dag.get_task("programme_gaps")
    assert isinstance(step, KubernetesStepOperator)
    container = step.manifests()["run"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/debr-base:7"  # the image holding the environment
    script = container["command"][-1]
    # (as in the manifest: Kubernetes' $(VAR) expansion is escaped, $$( gives bash $( back)
    assert 'py="$$(command -v python3)"' in script and "uv venv" not in script
    assert '"method": "find_gaps"' in script and '"min_gap_minutes": 15' in script


def test_loop_tasks_hand_no_files_to_each_other(dags: dict[str, Any]) -> None:
    word_stats = dags["peach.zzebu"].get_task("word_stats")
    assert word_stats.plan.earlier_steps == () and not dags["peach.zzebu"].get_task("rank_headlines").plan.hands_on
