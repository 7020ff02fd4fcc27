"""IR -> Airflow DAG objects. The only module that uses Airflow's DAG authoring API.

Every TaskRun becomes one Airflow task, named after the step, whose operator (from the backend) runs the
phases workspace -> provision -> run -> collect -> cleanup itself. Pipeline steps are wired as written: a
Sequence chains steps, a Parallel fans out and joins. One run-level teardown ends every DAG run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, TriggerRule

from . import ir
from .backends import Backend, StepPlan


def schedule_of(schedule: ir.Schedule) -> Any:
    if isinstance(schedule, ir.OnAssets):
        return [Asset(uri) for uri in schedule.uris]
    return ir.schedule_expression(schedule)


def doc_md(workflow: ir.Workflow) -> str:
    """The DAG's docs: what it is, any warnings, and the YAML it came from (secret values are never in it)."""
    parts = [f"### {workflow.title}", workflow.description, f"Source: `{workflow.source_file}`"]
    if workflow.warnings:
        parts.append("**Warnings**\n\n" + "\n".join(f"- {w}" for w in workflow.warnings))
    parts.append("<details><summary>Source YAML</summary>\n\n" + code_block(workflow.source_text, "yaml") + "\n</details>")
    return "\n\n".join(p for p in parts if p)


def summary(description: str, limit: int = 200) -> str:
    """The DAG's one-line description (the UI shows it beside the DAG): the first paragraph of the workflow's
    description, shortened at a word with an ellipsis when it is longer than ``limit``; the rest is in the docs."""
    first = " ".join(description.strip().split("\n\n", 1)[0].split())
    if len(first) <= limit:
        return first
    head = first[:limit - 1]
    if first[limit - 1] != " ":  # the cut is inside a word: drop that word
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:") + "…"


def code_block(text: str, language: str = "") -> str:
    """``text`` as a fenced Markdown code block that nothing inside it can close: the fence is longer than any
    run of backticks in the text (a YAML comment holding ``` would otherwise end the block early)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0) if "`" in text else 0
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


RUN_TEARDOWN_ID = "taskspec_teardown"


@dataclass
class _Wiring:
    """Steps built so far, and unique task ids within one DAG (the same task may run twice)."""

    backend: Backend
    workflow: ir.Workflow
    used_ids: set[str] = field(default_factory=lambda: {RUN_TEARDOWN_ID})
    steps: list[Any] = field(default_factory=list)
    # (task id, the steps it waits for): loop results, built once the steps are (see _add_without_params)
    loop_results: list[tuple[str, list[Any]]] = field(default_factory=list)

    def step_id(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.used_ids:
            n += 1
            candidate = f"{name}_{n}"
        self.used_ids.add(candidate)
        return candidate


def _outlets(run: ir.TaskRun) -> tuple[Asset, ...]:
    return tuple(Asset(d.uri) for d in run.publishes)


def _step(w: _Wiring, run: ir.TaskRun, earlier: tuple[str, ...], hands_on: bool) -> tuple[Any, str]:
    plan = StepPlan(dag_id=w.workflow.dag_id, step=w.step_id(run.name), earlier_steps=earlier, hands_on=hands_on,
                    outlets=_outlets(run))
    op = w.backend.step(w.workflow, run, plan)
    w.steps.append(op)
    return op, plan.step


Built = tuple[list[Any], list[Any], tuple[str, ...]]
"""A built step: its first tasks, its last tasks, and the step ids it ran (for later steps' inputs)."""


def _wire(w: _Wiring, step: ir.Step, earlier: tuple[str, ...], last: bool) -> Built:
    if isinstance(step, ir.TaskRun):
        op, sid = _step(w, step, earlier, hands_on=not last)
        return [op], [op], (sid,)
    if isinstance(step, ir.Parallel):
        return _wire_parallel(w, step, earlier, last)
    return _wire_sequence(w, step, earlier, last)


def _wire_parallel(w: _Wiring, step: ir.Parallel, earlier: tuple[str, ...], last: bool) -> Built:
    """Every branch starts after the same earlier steps; the step ends when all branches have."""
    firsts: list[Any] = []
    lasts: list[Any] = []
    ran: tuple[str, ...] = ()
    for branch in step.branches:
        f, l_, r = _wire(w, branch, earlier, last)
        firsts += f
        lasts += l_
        ran += r
    return firsts, lasts, ran


def _wire_sequence(w: _Wiring, step: ir.Sequence, earlier: tuple[str, ...], last: bool) -> Built:
    """Each step starts after the previous one and receives the outputs of all steps before it.

    With ``continue_on_failure`` (a PEACH loop) the steps are independent: each starts also when the one before
    it failed, none receives another's files, and one last task, ``loop_result``, fails the run when any step
    did (the last step's success alone would not)."""
    firsts: list[Any] = []
    previous: list[Any] = []
    every: list[Any] = []
    ran: tuple[str, ...] = ()
    independent = step.continue_on_failure  # a loop's tasks hand no files to each other
    for i, child in enumerate(step.steps):
        f, l_, r = _wire(w, child, earlier if independent else earlier + ran,
                         independent or (last and i == len(step.steps) - 1))
        for before in previous:
            for after in f:
                before >> after
                if step.continue_on_failure:
                    after.trigger_rule = TriggerRule.ALL_DONE
        firsts = firsts or f
        previous = l_
        every += l_
        ran += r
    if step.continue_on_failure and every:
        # What comes after the loop waits for all its tasks (and, by its default rule, fails when one did); the
        # loop_result task itself is added after the wiring.
        w.loop_results.append((w.step_id(LOOP_RESULT_ID), every))
        previous = every
    return firsts, previous, ran


LOOP_RESULT_ID = "loop_result"


def build_dag(workflow: ir.Workflow, backend: Backend) -> DAG:
    """One task per step, wired as the pipeline says, and the run-level teardown after all of them."""
    from .params import airflow_params

    optional: dict[str, Any] = {"max_active_runs": workflow.max_active_runs} if workflow.max_active_runs else {}
    with DAG(
        dag_id=workflow.dag_id,
        dag_display_name=workflow.title,
        description=summary(workflow.description) or None,
        doc_md=doc_md(workflow),
        schedule=schedule_of(workflow.schedule),
        catchup=False,
        tags=list(workflow.tags),
        default_args={"owner": workflow.owner},
        params=airflow_params(workflow.params),
        # The loader puts every DAG in the module's namespace, where Airflow finds it. Registered by the
        # context too, it would be found twice: Airflow merges the two sets keeping the hash a DAG had when
        # its context closed, and a DAG's hash covers its task ids, which the teardown added below changes.
        # Each DAG was then validated and bagged twice per parse.
        auto_register=False,
        **optional,  # otherwise Airflow's max_active_runs_per_dag stands
    ) as dag:
        w = _Wiring(backend, workflow)
        _wire(w, workflow.graph, (), last=True)
    for task_id, every in w.loop_results:
        result = _add_without_params(dag, EmptyOperator(task_id=task_id, trigger_rule=TriggerRule.ALL_SUCCESS,
                                                        owner=workflow.owner))
        result.set_upstream(every)
        w.steps.append(result)
    # Upstream of every step, not only of the last ones: a failed branch must not let the teardown run while
    # another branch still works. As a teardown it is not a leaf: the steps decide the run's state.
    teardown = _add_without_params(dag, backend.run_teardown(workflow, RUN_TEARDOWN_ID))
    teardown.owner = workflow.owner
    teardown.set_upstream(w.steps)
    teardown.as_teardown()
    return dag


def _add_without_params(dag: DAG, task: Any) -> Any:
    """``task``, built outside the DAG's context, added to ``dag``.

    Airflow gives each operator built inside a DAG's context a deep copy of all the DAG's params. The teardown
    and a loop's result read none, and a PEACH loop has a param per argument of every task: for them the copy
    was most of their parse time (bench/run.py, PEACH alone)."""
    dag.add_task(task)
    return task
