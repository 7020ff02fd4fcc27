"""IR -> Airflow DAG objects. The only module that uses Airflow's DAG authoring API.

Every TaskRun becomes one TaskGroup: workspace (setup) -> provision -> run -> collect -> cleanup (teardown).
Pipeline steps are wired as written: a Sequence chains groups, a Parallel fans out and joins.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import DAG, Asset, TaskGroup

from . import ir
from .backends import Backend, StepPlan
from .config import Settings


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


def code_block(text: str, language: str = "") -> str:
    """``text`` as a fenced Markdown code block that nothing inside it can close: the fence is longer than any
    run of backticks in the text (a YAML comment holding ``` would otherwise end the block early)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


@dataclass
class _Wiring:
    """Groups built so far, and unique group ids within one DAG (the same task may run twice)."""

    backend: Backend
    workflow: ir.Workflow
    used_ids: set[str] = field(default_factory=set)
    downstream_of: dict[str, bool] = field(default_factory=dict)

    def group_id(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.used_ids:
            n += 1
            candidate = f"{name}_{n}"
        self.used_ids.add(candidate)
        return candidate


def _outlets(run: ir.TaskRun) -> tuple[Asset, ...]:
    return tuple(Asset(d.uri) for d in run.publishes)


def _task_group(w: _Wiring, run: ir.TaskRun, earlier: tuple[str, ...], hands_on: bool) -> tuple[TaskGroup, str]:
    group_id = w.group_id(run.name)
    plan = StepPlan(dag_id=w.workflow.dag_id, group_id=group_id, earlier_steps=earlier, hands_on=hands_on,
                    outlets=_outlets(run))
    with TaskGroup(group_id=group_id, tooltip=run.recipe.command) as group:
        p = w.backend.phases(w.workflow, run, plan)
        p.workspace >> p.provision >> p.run >> p.collect >> p.cleanup
        p.cleanup.as_teardown(setups=p.workspace)
        for ensure in _data_set_gates(w.workflow, run, w.backend.settings):
            ensure >> p.workspace  # no workspace (folder or PVC) exists while the step waits for its data
    return group, group_id


def _data_set_gates(workflow: ir.Workflow, run: ir.TaskRun, cfg: Settings) -> list[Any]:
    from .backends.phases import EnsureDataSetOperator
    from .runtime import layout

    gates = []
    for use in run.data_sets:
        if not use.producer_dag_id or use.producer_dag_id == workflow.dag_id:
            continue
        gates.append(EnsureDataSetOperator(
            task_id=f"ensure_{use.name}", trigger_dag_id=use.producer_dag_id,
            data_set_url=layout.dataset_url(cfg.artifact_store, use.project, use.name), settings=cfg,
        ))
    return gates


Built = tuple[list[TaskGroup], list[TaskGroup], tuple[str, ...]]
"""A built step: its first groups, its last groups, and the group ids it ran (for later steps' inputs)."""


def _wire(w: _Wiring, step: ir.Step, earlier: tuple[str, ...], last: bool) -> Built:
    if isinstance(step, ir.TaskRun):
        group, gid = _task_group(w, step, earlier, hands_on=not last)
        return [group], [group], (gid,)
    if isinstance(step, ir.Parallel):
        return _wire_parallel(w, step, earlier, last)
    return _wire_sequence(w, step, earlier, last)


def _wire_parallel(w: _Wiring, step: ir.Parallel, earlier: tuple[str, ...], last: bool) -> Built:
    """Every branch starts after the same earlier steps; the step ends when all branches have."""
    firsts: list[TaskGroup] = []
    lasts: list[TaskGroup] = []
    ran: tuple[str, ...] = ()
    for branch in step.branches:
        f, l_, r = _wire(w, branch, earlier, last)
        firsts += f
        lasts += l_
        ran += r
    return firsts, lasts, ran


def _wire_sequence(w: _Wiring, step: ir.Sequence, earlier: tuple[str, ...], last: bool) -> Built:
    """Each step starts after the previous one and receives the outputs of all steps before it."""
    firsts: list[TaskGroup] = []
    previous: list[TaskGroup] = []
    ran: tuple[str, ...] = ()
    for i, child in enumerate(step.steps):
        f, l_, r = _wire(w, child, earlier + ran, last and i == len(step.steps) - 1)
        for before in previous:
            for after in f:
                before >> after
        firsts = firsts or f
        previous = l_
        ran += r
    return firsts, previous, ran


def build_dag(workflow: ir.Workflow, backend: Backend) -> DAG:
    from .params import airflow_params

    with DAG(
        dag_id=workflow.dag_id,
        dag_display_name=workflow.title,
        description=workflow.description[:200] or None,
        doc_md=doc_md(workflow),
        schedule=schedule_of(workflow.schedule),
        catchup=False,
        max_active_runs=workflow.max_active_runs or 16,
        tags=list(workflow.tags),
        default_args={"owner": workflow.owner},
        params=airflow_params(workflow.params),
    ) as dag:
        _wire(_Wiring(backend, workflow), workflow.graph, (), last=True)
    return dag


def broken_files_dag(errors: dict[str, str]) -> DAG:
    """One placeholder DAG that shows every spec file that failed to compile, and fails when run."""
    from .backends.errors_report import ReportSpecErrorsOperator

    listing = "\n\n".join(f"#### `{file}`\n\n```\n{html.escape(text)}\n```" for file, text in sorted(errors.items()))
    with DAG(
        dag_id=BROKEN_FILES_DAG_ID,
        # "!" sorts before letters, so the DAG list (sorted by display name) shows this first.
        dag_display_name=f"! taskspec: {len(errors)} spec file(s) failed to compile ⚠",
        description=_first_error_line(errors)[:200],
        doc_md="## Spec files that failed to compile\n\nFix them; the DAGs appear on the next parse.\n\n" + listing,
        schedule=None,
        catchup=False,
        tags=["taskspec-error"],
    ) as dag:
        ReportSpecErrorsOperator(task_id="report_errors", errors=errors)
    return dag


BROKEN_FILES_DAG_ID = "taskspec.broken_files"


def _first_error_line(errors: dict[str, str]) -> str:
    """The first error of the first broken file, for the DAG's one-line description."""
    first = errors[sorted(errors)[0]].splitlines()[0] if errors else ""
    more = f" (and {len(errors) - 1} more file(s))" if len(errors) > 1 else ""
    return first + more
