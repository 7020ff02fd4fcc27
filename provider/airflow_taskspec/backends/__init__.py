"""Backends turn one IR TaskRun into one Airflow task (its operator runs the phases workspace -> provision ->
run -> collect -> cleanup itself) and give every DAG one run-level teardown. ``for_settings`` picks the
configured backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..config import Settings
    from ..ir import TaskRun, Workflow


@dataclass(frozen=True)
class StepPlan:
    """What build decided about one TaskRun's place in its DAG (names only; paths are made at run time)."""

    dag_id: str
    step: str  # the Airflow task id, unique in the DAG (the same task may run twice: ``t``, ``t_2``)
    earlier_steps: tuple[str, ...] = ()  # steps whose changed files this step receives
    hands_on: bool = False  # later steps need this step's changed files
    outlets: tuple[Any, ...] = ()  # Airflow Assets this step publishes


class Backend(Protocol):
    settings: Settings

    def step(self, workflow: Workflow, run: TaskRun, plan: StepPlan) -> Any:
        """The one operator of one TaskRun (a StepOperator), created inside the current DAG."""
        ...

    def run_teardown(self, workflow: Workflow, task_id: str) -> Any:
        """The operator that deletes, by label, whatever the steps of one DAG run left behind."""
        ...


def for_settings(settings: Settings) -> Backend:
    if settings.backend == "kubernetes":
        from .kubernetes import KubernetesBackend

        return KubernetesBackend(settings)
    from .local import LocalBackend

    return LocalBackend(settings)
