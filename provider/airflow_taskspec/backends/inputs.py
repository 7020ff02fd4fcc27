"""A step's typed inputs for this run: what provision stages and what the run's environment gets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow.sdk.exceptions import AirflowException

from .. import ir


def _values(run: ir.TaskRun, context: Any) -> list[tuple[ir.TaskInput, ir.Param, Any]]:
    """The run's value of each typed input, checked against its schema first: a run created around
    Airflow's own validation still fails here, before any workspace or pod exists."""
    from ..params import check, given_value

    specs = [i.param for i in run.inputs if i.param is not None]
    given = dict(context.get("params") or {})
    problems = check(specs, given)
    if problems:
        raise AirflowException("bad input for this run: " + "; ".join(problems))
    return [(i, i.param, given_value(i.param, given)) for i in run.inputs if i.param is not None]


def check_conf_keys(context: Any, declared: Iterable[str], dag_id: str) -> None:
    """Fail (without retries) when the run's conf sets a key that is no parameter of the DAG: Airflow keeps such
    a key and the step would run with the default of the parameter the user meant (`--conf '{"epoch": 50}'` for
    `epochs`). Nothing of this step has been made yet."""
    from airflow.sdk.exceptions import AirflowFailException

    from ..errors import did_you_mean, one_of

    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    names = sorted(declared)
    unknown = [key for key in conf if key not in names]
    if not unknown:
        return
    said = "; ".join(f"'{key}'" + (f" ({hint})" if (hint := did_you_mean(str(key), names)) else "")
                     for key in unknown)
    have = f"its parameters are {one_of(names)}" if names else "it has no parameters"
    raise AirflowFailException(f"the run's conf sets {said}, which DAG {dag_id} has no parameter for ({have}); "
                               "nothing ran: trigger it again with the parameters' own names")


def check_inputs(run: ir.TaskRun, context: Any) -> None:
    """Fail with every problem of this run's typed values before the step makes anything (a workspace, a PVC)."""
    _values(run, context)


def input_staging(run: ir.TaskRun, context: Any) -> list[dict[str, Any]]:
    """ProvisionSpec.inputs for this run (runtime.inputs says what each entry means)."""
    staged: list[dict[str, Any]] = [
        {"name": i.name, "path": i.path, **({"url": i.url} if i.url else {"content": i.content or ""})}
        for i in run.inputs if i.param is None
    ]
    staged += [{"name": i.name, "type": p.type.value, "value": v} for i, p, v in _values(run, context)]
    return staged


def input_env(run: ir.TaskRun, context: Any) -> dict[str, str]:
    from ..params import env_name
    from ..runtime.inputs import value_text

    return {env_name(i.name): value_text(p.type.value, v) for i, p, v in _values(run, context)}
