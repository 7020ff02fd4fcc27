"""The DAGs built from the examples: one task per step, dependencies, parallel branches, the run-level teardown,
schedule, tags, docs, Airflow's defaults. No database."""

from __future__ import annotations

from typing import Any

import pytest
from airflow_taskspec import build, resolve
from airflow_taskspec.backends.local import LocalBackend, LocalRunTeardownOperator, LocalStepOperator
from airflow_taskspec.config import settings

from tests.conftest import BIN, EXAMPLES

STEPS = ("prepare_data", "train_linear", "train_knn", "compare")
TEARDOWN = "taskspec_teardown"


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


def test_every_step_is_one_task_named_after_it(dags: dict[str, Any]) -> None:
    dag = dags["house_prices.train_and_compare"]
    assert set(dag.task_ids) == {*STEPS, TEARDOWN}
    for step in STEPS:
        task = dag.get_task(step)
        assert isinstance(task, LocalStepOperator) and task.task_run.name == step
        assert not task.is_setup and not task.is_teardown
    assert [len(d.task_ids) for d in dags.values()] == [2, 5, 2, 2, 2, 2]  # one step each + the teardown


def test_pipeline_steps_are_wired_as_written(dags: dict[str, Any]) -> None:
    dag = dags["house_prices.train_and_compare"]
    # prepare -> (linear || knn) -> compare: the nested list runs in parallel
    assert upstream(dag, "prepare_data") == set()
    assert upstream(dag, "train_linear") == {"prepare_data"}
    assert upstream(dag, "train_knn") == {"prepare_data"}
    assert upstream(dag, "compare") == {"train_linear", "train_knn"}
    assert "train_knn" not in dag.get_task("train_linear").downstream_task_ids


def test_the_run_teardown_waits_for_every_step_and_does_not_decide_the_run(dags: dict[str, Any]) -> None:
    dag = dags["house_prices.train_and_compare"]
    teardown = dag.get_task(TEARDOWN)
    assert isinstance(teardown, LocalRunTeardownOperator)
    # Every step, not only the last: a failed branch must not let it run while the other branch works.
    assert upstream(dag, TEARDOWN) == set(STEPS)
    assert teardown.is_teardown and teardown.trigger_rule == "all_done_setup_success"
    assert teardown.on_failure_fail_dagrun is False
    # The scheduler ignores teardowns when it decides a run's state: its leaves are then the last steps.
    effective_leaves = {t.task_id for t in dag.tasks if not t.is_teardown and t.downstream_task_ids <= {TEARDOWN}}
    assert effective_leaves == {"compare"}


def test_steps_receive_the_changed_files_of_every_earlier_step(dags: dict[str, Any]) -> None:
    dag = dags["house_prices.train_and_compare"]
    plan = lambda s: dag.get_task(s).plan
    assert plan("prepare_data").earlier_steps == ()
    assert plan("train_knn").earlier_steps == ("prepare_data",)
    assert plan("compare").earlier_steps == ("prepare_data", "train_linear", "train_knn")
    assert plan("compare").hands_on is False and plan("train_knn").hands_on is True


def test_a_step_named_like_the_teardown_gets_another_id(tmp_path: Any) -> None:
    (tmp_path / "ame.yaml").write_text(
        f"name: p\ntasks:\n  - name: {TEARDOWN}\n    executor: !custom\n      command: 'true'\n"
    )
    compilation = resolve.compile_paths([str(tmp_path)])
    dag = build.build_dag(compilation.workflows[0], LocalBackend(settings()))
    assert sorted(dag.task_ids) == [TEARDOWN, f"{TEARDOWN}_2"]
    assert isinstance(dag.get_task(f"{TEARDOWN}_2"), LocalStepOperator)


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
    run = dags["house_prices.train_and_compare"].get_task("train_knn").task_run
    assert run.recipe.kind.value == "pip" and run.recipe.python_version == "3.11"
    assert [(e.name, e.value) for e in run.env] == [("KNN_NEIGHBOURS", "7")]
    prep = dags["house_prices.prepare_data"].get_task("prepare_data").task_run
    assert (prep.resources.cpu, prep.resources.memory) == ("500m", "512Mi")


AIRFLOW_DEFAULTS = """
from airflow_taskspec import build, resolve
from airflow_taskspec.backends.local import LocalBackend
from airflow_taskspec.config import settings
wf = resolve.compile_paths([{folder!r}]).workflows[0]
dag = build.build_dag(wf, LocalBackend(settings()))
print(dag.max_active_runs, dag.get_task("daily_greeting").retries)
"""


def test_airflows_defaults_stand_where_the_spec_says_nothing() -> None:
    """No max_active_runs or retries of our own over [core] max_active_runs_per_dag / default_task_retries
    (read when Airflow is imported: a fresh process)."""
    import os
    import subprocess

    env = {**os.environ, "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "3", "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "2"}
    code = AIRFLOW_DEFAULTS.format(folder=str(EXAMPLES / "hello"))
    done = subprocess.run([str(BIN / "python"), "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["3", "2"]
