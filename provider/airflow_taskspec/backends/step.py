"""One spec step = one Airflow task: its operator runs the phases itself, in order,

    workspace -> provision -> run -> collect -> cleanup

each one a folded section of the task log (``::group::``) followed by a line with its duration. This module
decides what every backend does alike: the order, what still runs after a failure (collect after a failed
command, cleanup always), what a phase with nothing to do is (skipped), the data-set gate before anything,
and which exception the task ends with (a timeout stays a timeout, a skip a skip, a no-retry failure a
no-retry failure). Backends implement the phases (``phase_<name>``) and ``on_kill``.

A phase may defer (kubernetes, deferrable mode): what must survive the deferral is a ``StepState``, carried
as JSON in the deferral's kwargs; ``resume_phase`` finishes the phase and goes on with the next ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    AirflowTaskTimeout,
    TaskDeferralTimeout,
    TaskDeferred,
)

from .. import ir
from ..config import Settings
from ..runtime import layout
from . import StepPlan, data_sets
from .inputs import check_conf_keys
from .links import StepArtifactStoreLink, StepOutputsLink

PHASES = ("workspace", "provision", "run", "collect", "cleanup")
RESULT_NOTE = "result"
"""``StepState.notes`` key of what the run phase returned (a notebook method's result), for the XCom."""
RESUME_KEY = "taskspec_step"  # in the event of a trigger a phase deferred on: {"phase", "state"}

# How a phase failed; each kind ends the task with the exception Airflow gives that meaning.
ERROR, FAIL, TIMEOUT, SKIP, STOPPED, INTERRUPTED = "error", "fail", "timeout", "skip", "stopped", "interrupted"
_ENDING: dict[str, type[BaseException]] = {
    ERROR: AirflowException,  # retried if the step has retries
    FAIL: AirflowFailException,  # never retried
    TIMEOUT: AirflowTaskTimeout,
    SKIP: AirflowSkipException,
    STOPPED: AirflowException,  # marked failed or cleared while running
}


@dataclass(frozen=True)
class RunNames:
    """The names and store URLs of one try of one step of one DAG run."""

    dag_id: str
    run_id: str
    step: str
    try_number: int
    settings: Settings

    @classmethod
    def from_context(cls, plan: StepPlan, settings: Settings, context: Any) -> RunNames:
        return cls(plan.dag_id, str(context["run_id"]), plan.step, int(context["ti"].try_number or 1), settings)

    @property
    def artifact_url(self) -> str:
        return layout.artifact_url(self.settings.artifact_store, self.dag_id, self.run_id, self.step)

    @property
    def exchange_url(self) -> str:
        return layout.exchange_url(self.settings.artifact_store, self.dag_id, self.run_id, self.step)

    @property
    def meta(self) -> dict[str, str]:
        """Recorded in every manifest this step commits: which run of which step wrote it."""
        return {"dag_id": self.dag_id, "run_id": self.run_id, "step": self.step, "try": str(self.try_number)}

    def earlier_outputs(self, plan: StepPlan) -> list[str]:
        store = self.settings.artifact_store
        return [layout.exchange_url(store, self.dag_id, self.run_id, s) for s in plan.earlier_steps]


def execution_timeout(run: ir.TaskRun) -> timedelta | None:
    return timedelta(seconds=run.timeout_seconds) if run.timeout_seconds else None


def stages_anything(run: ir.TaskRun, plan: StepPlan) -> bool:
    """Provision has work: project files (unless the image carries them), earlier steps' files, data sets,
    task inputs."""
    return not run.source.in_image or bool(plan.earlier_steps) or bool(run.data_sets) or bool(run.inputs)


def saves_anything(run: ir.TaskRun, plan: StepPlan) -> bool:
    """Collect has work: artifacts, declared outputs, changed files for later steps, data sets to publish."""
    a = run.artifacts
    return bool(a.paths) or a.save_changed_files or plan.hands_on or bool(run.publishes) or bool(run.outputs)


@dataclass
class StepState:
    """What one try of a step has done so far; JSON, so it survives a deferral."""

    started_at: dict[str, float] = field(default_factory=dict)  # phase -> epoch seconds it began
    done: list[str] = field(default_factory=list)  # phases finished (well or not, or skipped), in order
    skipped: list[str] = field(default_factory=list)  # phases that had nothing to do
    failure: dict[str, str] | None = None  # the first failure: {"phase", "kind", "line"}
    collected: list[dict[str, Any]] = field(default_factory=list)  # what collect saved (the XCom)
    notes: dict[str, Any] = field(default_factory=dict)  # backend data, e.g. the uploaded project's URL

    def to_kwargs(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_kwargs(cls, data: dict[str, Any]) -> StepState:
        return cls(**data)


def _defaults_for_empty_params(context: Any, task: BaseOperator) -> None:
    """A field the trigger form left empty arrives as null (params.airflow_params lets a parameter with a
    default take null): the step, a notebook's arguments included, gets that parameter's default instead."""
    given = context.get("params")
    dag = task.dag if getattr(task, "has_dag", lambda: True)() else None
    if not given or dag is None:
        return
    for name in [k for k in list(given.keys()) if given[k] is None]:
        if name in dag.params and (default := dag.params.get_param(name).value) is not None:
            given[name] = default


def classify(exc: BaseException) -> str:
    """The kind of a failure, from exception types only (never from message text); the KubernetesPodOperator's
    cleanup may raise over the original error, so the whole chain counts."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(e, AirflowTaskTimeout | TaskDeferralTimeout) for e in chain):
        return TIMEOUT
    if isinstance(exc, AirflowSkipException):
        return SKIP
    if isinstance(exc, AirflowFailException):
        return FAIL
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return INTERRUPTED
    return ERROR


class StepOperator(BaseOperator):
    """One TaskRun of a DAG as one task. Subclasses implement ``phase_workspace`` ... ``phase_cleanup``."""

    # User text (commands, env values) must never go through Jinja: nothing here is templated.
    template_fields: Sequence[str] = ()
    ui_color = "#dbeafe"
    # Where a user finds what a try saved, from the task instance's page (links.py).
    operator_extra_links = (StepOutputsLink(), StepArtifactStoreLink())

    # Run-time state, set when the step runs (class defaults keep the constructor cheap: a DAG folder of
    # thousands of steps builds one of these per step at every parse).
    _stopped = False  # on_kill ran: stop at once, skip what is left but cleanup
    _cleaned_up = False  # cleanup ran: nothing of this try is left
    _original: BaseException | None = None  # the first failure, to chain the task's exception to

    def __init__(self, *, plan: StepPlan, settings: Settings, task_run: ir.TaskRun, **kwargs: Any) -> None:
        if task_run.retries is not None:  # otherwise Airflow's default_task_retries stands
            kwargs.setdefault("retries", task_run.retries)
        if task_run.timeout_seconds:
            kwargs.setdefault("execution_timeout", execution_timeout(task_run))
        if plan.outlets:
            kwargs.setdefault("outlets", list(plan.outlets))
        super().__init__(task_id=plan.step, **kwargs)
        self.plan = plan
        self.settings = settings
        self.task_run = task_run

    @property
    def data_set_gates(self) -> tuple[ir.DataSetUse, ...]:
        return data_sets.gates(self.task_run, self.plan.dag_id)

    # --- what backends provide ---

    def names(self, context: Any) -> RunNames:
        return RunNames.from_context(self.plan, self.settings, context)

    def wants(self, phase: str) -> bool:
        """Whether ``phase`` has anything to do for this step (not: whether it may run after a failure)."""
        if phase == "provision":
            return stages_anything(self.task_run, self.plan)
        if phase == "collect":
            return saves_anything(self.task_run, self.plan)
        return True

    def explain(self, phase: str, exc: BaseException, kind: str) -> str:
        """One line saying why ``phase`` failed."""
        if kind == TIMEOUT:
            return f"deadline exceeded: the step ran longer than its timeout ({self.execution_timeout})"
        if kind == STOPPED:
            return "the step was stopped (marked failed, cleared, or its worker is shutting down)"
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__

    def phase_cleanup(self, context: Any, state: StepState) -> None:
        """Delete what this try made (pods, volume, folder), whatever happened; idempotent."""
        raise NotImplementedError

    def stop_now(self) -> None:
        """Stop what runs now and delete what this try made, from Airflow's ``on_kill`` (backends)."""
        raise NotImplementedError

    def resume_work(self, phase: str, context: Any, state: StepState, event: Any) -> None:
        """Finish a phase that deferred (backends that defer)."""
        raise NotImplementedError(f"{type(self).__name__} does not defer")

    # --- Airflow's entry points ---

    def on_kill(self) -> None:
        """Marked failed, cleared, or timed out while a phase runs (Airflow's SIGTERM handler): stop at once
        and clean up; the phases still to come are skipped."""
        if self._cleaned_up:  # Airflow calls this after a step that ended as a timeout too
            return
        self._stopped = True
        self.stop_now()

    def execute(self, context: Any) -> Any:
        _defaults_for_empty_params(context, self)
        if getattr(self, "has_dag", lambda: False)():
            check_conf_keys(context, self.dag.params.keys(), self.dag.dag_id)
        data_sets.ensure_produced(self.data_set_gates, self.settings, context, self.log.info)
        return self._proceed(context, StepState())

    def execute_complete(self, context: Any, event: Any) -> Any:
        """Back from a data-set producer's run (the gate deferred): check it, then start the step."""
        data_sets.check_producer_run(event, self.data_set_gates, self.settings, context)
        return self.execute(context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        if next_method == TRIGGER_FAIL_REPR:
            # The deferral itself failed or timed out: no phase will resume, so remove what this try made.
            self.log.error("taskspec: the step's deferral failed; removing its workspace")
            self.phase_cleanup(context, StepState())
        return super().resume_execution(next_method, next_kwargs, context)

    def resume_phase(self, context: Any, event: dict[str, Any]) -> Any:
        """Back from a phase that deferred: finish it, then go on with the next phases. Where the step was
        comes back in the event (``RESUME_KEY``, put there by the backend's trigger)."""
        _defaults_for_empty_params(context, self)
        where = event[RESUME_KEY]
        phase, st = where["phase"], StepState.from_kwargs(where["state"])
        self._phase(context, st, phase, lambda: self.resume_work(phase, context, st, event), resumed=True)
        return self._proceed(context, st)

    # --- the order of phases ---

    def _proceed(self, context: Any, state: StepState) -> Any:
        for phase in PHASES[:-1]:
            if phase in state.done or not self._may_run(phase, state):
                continue
            if not self.wants(phase):
                self.log.info("taskspec: %s: nothing to do for this step, skipped", phase)
                state.done.append(phase)
                state.skipped.append(phase)
                continue
            self._phase(context, state, phase, lambda p=phase: getattr(self, f"phase_{p}")(context, state))
        self._phase(context, state, "cleanup", lambda: self.phase_cleanup(context, state))
        self._cleaned_up = "cleanup" in state.done and (state.failure or {}).get("phase") != "cleanup"
        return self._end(context, state)

    def _may_run(self, phase: str, state: StepState) -> bool:
        if self._stopped:
            return False
        if phase == "collect":
            # After the command, also a failed or timed-out one: partial outputs are kept.
            return "run" in state.done and (state.failure is None or state.failure["phase"] == "run")
        return state.failure is None

    def _phase(self, context: Any, state: StepState, phase: str, work: Any, resumed: bool = False) -> None:
        """Run one phase in its log section; record how it ended (TaskDeferred passes: the phase goes on later)."""
        state.started_at.setdefault(phase, time.time())
        self.log.info("::group::%s%s", phase, " (continued)" if resumed else "")
        try:
            work()
        except TaskDeferred:
            self.log.info("taskspec: %s goes on in the triggerer", phase)
            self.log.info("::endgroup::")
            raise
        except BaseException as exc:  # noqa: BLE001  # every failure is recorded; _end raises the first one
            kind = STOPPED if self._stopped else classify(exc)
            line = self.explain(phase, exc, kind)
            self.log.error("taskspec: %s failed: %s", phase, line)
            self.log.info("::endgroup::")
            self._took(phase, state, "failed")
            if state.failure is None:
                state.failure = {"phase": phase, "kind": kind, "line": line}
                self._original = exc
            return
        self.log.info("::endgroup::")
        self._took(phase, state, "done")

    def _took(self, phase: str, state: StepState, how: str) -> None:
        seconds = time.time() - state.started_at[phase]
        self.log.info("taskspec: %s %s in %.2f s", phase, how, seconds)
        state.done.append(phase)

    def _end(self, context: Any, state: StepState) -> Any:
        failure = state.failure
        if failure is None:
            # A notebook entry point's JSON result is the step's XCom; other steps report what collect saved.
            return state.notes.get(RESULT_NOTE, state.collected)
        if failure["kind"] == INTERRUPTED and self._original is not None:
            raise self._original
        line = f"taskspec: {failure['phase']} failed: {failure['line']}"
        if failure["phase"] == "run" and "collect" in state.done and "collect" not in state.skipped:
            line += f" ({len(state.collected)} output file(s) were saved first)"
            if state.collected:  # partial outputs stay visible as the step's XCom
                context["ti"].xcom_push(key="return_value", value=state.collected)
        raise _ENDING[failure["kind"]](line) from self._original


class RunTeardownOperator(BaseOperator):
    """The DAG run's last task (an Airflow teardown: it runs after failures too and does not decide the run's
    state): removes, by label, whatever the run's steps left behind (a worker killed with SIGKILL, a lost
    node cannot clean up after itself). Backends implement ``execute``."""

    ui_color = "#eeeeee"
    template_fields: Sequence[str] = ()

    def __init__(self, *, dag_id: str, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dag_id_of_steps = dag_id
        self.settings = settings
