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
