"""Ids Airflow would reject are the file's error at compile time, with the limits Airflow itself uses."""

from __future__ import annotations

import inspect
from pathlib import Path

from airflow_taskspec import airflow_ids, resolve

from .conftest import make_dag_folder


def test_the_limits_are_airflows_own() -> None:
    from airflow.models.base import ID_LEN
    from airflow.sdk.definitions._internal import node

    assert airflow_ids.ID_LEN == ID_LEN
    assert airflow_ids.ID_LEN == inspect.signature(node.validate_key).parameters["max_length"].default
    assert airflow_ids.KEY_REGEX.pattern == node.KEY_REGEX.pattern


def test_the_reserve_holds_what_taskspec_appends_to_a_step_name() -> None:
    from airflow_taskspec.backends import k8s_phase_pods

    phases = [c.phase for c in vars(k8s_phase_pods).values()
              if isinstance(c, type) and issubclass(c, k8s_phase_pods.PhasePod) and c.phase]
    assert phases  # the phase pods' task ids are `<step>.<phase>`
    assert airflow_ids.STEP_SUFFIX_RESERVE >= len("_99") + len(".") + max(map(len, phases))


def _spec(task: str, project: str = "p") -> str:
    return f"name: {project}\ntasks:\n  - name: ok\n    executor: !custom\n      command: echo\n" \
           f"  - name: {task}\n    executor: !custom\n      command: echo\n"


def test_a_dag_id_over_airflows_limit_is_an_error_at_the_task(tmp_path: Path) -> None:
    long_name = "t" * 247  # "p." + 247 = 249: a valid DAG id, but 247 > 230 for a step's task id
    longer = "u" * 249  # "p." + 249 = 251 > 250
    folder = make_dag_folder(tmp_path, {"p": _spec(long_name) + f"  - name: {longer}\n    executor: !custom\n"
                                                                 "      command: echo\n"})
    c = resolve.compile_paths([str(folder)])
    spec = folder / "p" / "ame.yaml"
    assert [w.dag_id for w in c.workflows] == ["p.ok"]
    text = "\n".join(d.format() for d in c.diagnostics())
    assert (f"{spec}:6:5: error: task name '{'t' * 40}...' is 247 characters long; it becomes an Airflow task id, "
            "which allows at most 250 characters, so a task name may have 230") in text
    assert f"{spec}:9:5: error: DAG id 'p.{'u' * 38}...' is 251 characters long; Airflow allows at most 250" in text
