"""What Airflow accepts as a DAG id and as the task id each step (task run) becomes.

Airflow rejects other ids only when the DAG object is built (``validate_key`` in
``airflow.sdk.definitions._internal.node``) or stores them (``airflow.models.base.ID_LEN``). Importing those
modules costs seconds, so the limits are repeated here; ``tests/test_airflow_ids.py`` checks them against the
installed Airflow and the backends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import ir
from .errors import Diagnostic

ID_LEN = 250
"""``airflow.models.base.ID_LEN``: the longest DAG id or task id Airflow stores."""
STEP_SUFFIX_RESERVE = 20
"""Room a step's name leaves in its task id for what taskspec appends: `_2` for a step that runs twice in one DAG,
`.provision` for the Kubernetes backend's phase pods."""
STEP_NAME_LEN = ID_LEN - STEP_SUFFIX_RESERVE
KEY_REGEX = re.compile(r"^[\w.-]+$")


def _task_runs(step: ir.Step) -> Iterable[ir.TaskRun]:
    if isinstance(step, ir.TaskRun):
        yield step
    elif isinstance(step, ir.Sequence):
        for s in step.steps:
            yield from _task_runs(s)
    else:
        for b in step.branches:
            yield from _task_runs(b)


def problems(wf: ir.Workflow) -> list[Diagnostic]:
    """An error at the definition of each id of ``wf`` that Airflow would reject."""
    found = []
    o = wf.origin
    if len(wf.dag_id) > ID_LEN:
        found.append(Diagnostic(o.file, o.line, o.column,
                                f"DAG id '{wf.dag_id[:40]}...' is {len(wf.dag_id)} characters long; Airflow allows "
                                f"at most {ID_LEN}", "shorten the names it is made of (project and task name)"))
    elif not KEY_REGEX.match(wf.dag_id):
        found.append(Diagnostic(o.file, o.line, o.column,
                                f"DAG id '{wf.dag_id}' has characters Airflow rejects in ids",
                                "use only letters, digits, '_', '-' and '.'"))
    for run in _task_runs(wf.graph):
        o = run.origin or wf.origin
        if len(run.name) > STEP_NAME_LEN:
            found.append(Diagnostic(o.file, o.line, o.column,
                                    f"task name '{run.name[:40]}...' is {len(run.name)} characters long; it becomes "
                                    f"an Airflow task id, which allows at most {ID_LEN} characters, so a task name "
                                    f"may have {STEP_NAME_LEN}", "shorten the task name"))
        elif not KEY_REGEX.match(run.name):
            found.append(Diagnostic(o.file, o.line, o.column,
                                    f"task name '{run.name}' has characters Airflow rejects in task ids",
                                    "use only letters, digits, '_', '-' and '.'"))
    return found
