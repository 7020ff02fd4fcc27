"""The IR speaks no dialect and is plain frozen data (cached as pickles, compared in tests)."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import re

import pytest
from airflow_taskspec import ir


def test_the_ir_names_no_dialect() -> None:
    source = inspect.getsource(ir)
    assert re.findall(r"\b(?:ame|AME|peach|PEACH|codops)\b|ame://", source) == []


def test_a_loop_of_notebook_tasks_with_typed_params_is_frozen_picklable_data() -> None:
    env = ir.PythonEnvironment("base", ("orjson==3.3.1", "pyarrow"))
    recipe = ir.NotebookRecipe("notebooks/task.ipynb", "task", env, full_notebook=False,
                               arguments=(ir.Argument("user", "related.user"), ir.Argument("my_dict", "related.my_dict")))
    params = (
        ir.Param("related.user", ir.ParamType.STRING, default='"f57246b6"'),
        ir.Param("related.my_dict", ir.ParamType.OBJECT, default='{"item1": "message"}',
                 properties=(ir.Param("item1", ir.ParamType.STRING, default='"message"'),)),
        ir.Param("size", ir.ParamType.INTEGER, required=True, minimum=1, maximum=10),
        ir.Param("mode", ir.ParamType.ENUMERATION, allowed=("fast", "exact"), default='"fast"'),
        ir.Param("names", ir.ParamType.ARRAY, items=ir.Param("name", ir.ParamType.STRING, pattern="^[a-z]+$")),
    )
    run = ir.TaskRun("related", recipe, ir.ProjectSource(folder="/p"), origin=ir.Origin("/p/peach.yaml", 4, 3))
    wf = ir.Workflow("loop", "loop", ir.Origin("/p/peach.yaml", 1, 1), "", ir.Sequence((run, run), True),
                     schedule=ir.Continuous(), max_active_runs=1, params=params)
    assert pickle.loads(pickle.dumps(wf)) == wf
    assert hash(wf) == hash(pickle.loads(pickle.dumps(wf)))
    assert wf.source_file == "/p/peach.yaml" and str(run.origin) == "/p/peach.yaml:4:3"
    with pytest.raises(dataclasses.FrozenInstanceError):
        wf.params = ()  # type: ignore[misc]


def _run(name: str, line: int, cpu: str) -> ir.TaskRun:
    # Each value built anew, as normalisation builds them per task.
    return ir.TaskRun(name, ir.Recipe(ir.ExecutorKind.CUSTOM, "python train.py"), ir.ProjectSource(folder="/dags/shop"),
                      env=(ir.EnvVar("MODE", "fast"),), resources=ir.Resources(cpu=cpu, memory="1Gi"),
                      origin=ir.Origin("/dags/shop/ame.yaml", line, 5))


def _workflow(dag_id: str, steps: tuple[ir.TaskRun, ...], params: tuple[ir.Param, ...] = ()) -> ir.Workflow:
    return ir.Workflow(dag_id, dag_id, ir.Origin("/dags/shop/ame.yaml", 2, 3), "name: shop\n", ir.Sequence(steps),
                       params=params, warnings=(f"{dag_id} warned",))


def test_equal_values_of_a_groups_workflows_are_held_once_and_nothing_else_changes() -> None:
    before = [_workflow("shop.a", (_run("prep", 4, "1"), _run("fit", 9, "1"))),
              _workflow("shop.b", (_run("prep", 14, "2"),))]
    assert before[0].graph.steps[0].source is not before[0].graph.steps[1].source

    after = ir.with_equal_values_shared(before)

    assert after == before
    assert [w.warnings for w in after] == [("shop.a warned",), ("shop.b warned",)]  # not compared by ==
    runs = [run for w in after for run in ir.task_runs(w.graph)]
    assert len({id(r.source) for r in runs}) == 1
    assert len({id(r.recipe) for r in runs}) == 1
    assert len({id(r.env) for r in runs}) == 1
    assert runs[0].resources is runs[1].resources
    assert runs[2].resources is not runs[0].resources and runs[2].resources.cpu == "2"
    assert len({id(r.origin) for r in runs}) == 3  # each task's own place


def test_values_equal_in_python_but_not_to_a_user_stay_apart() -> None:
    # 1 == 1.0 == True: an enumeration of (1,) is not one of (True,) nor of (1.0,).
    # 0.0 == -0.0 too.
    values = (1, True, 1.0, 0.0, -0.0)
    params = tuple(ir.Param(f"p{i}", ir.ParamType.ENUMERATION, allowed=(value,)) for i, value in enumerate(values))
    [after] = ir.with_equal_values_shared([_workflow("shop.a", (_run("prep", 4, "1"),), params)])
    assert [type(p.allowed[0]) for p in after.params] == [int, bool, float, float, float]
    assert [repr(p.allowed[0]) for p in after.params] == ["1", "True", "1.0", "0.0", "-0.0"]
