"""Backends turn one IR TaskRun into Airflow operators for the phases workspace -> provision -> run -> collect
-> cleanup. ``for_settings`` picks the configured one."""

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
    group_id: str
    earlier_steps: tuple[str, ...] = ()  # group ids whose changed files this step receives
    hands_on: bool = False  # later steps need this step's changed files
    outlets: tuple[Any, ...] = ()  # Airflow Assets this step publishes


@dataclass
class Phases:
    workspace: Any
    provision: Any
    run: Any
    collect: Any
    cleanup: Any


class Backend(Protocol):
    settings: Settings

    def phases(self, workflow: Workflow, run: TaskRun, plan: StepPlan) -> Phases:
        """Create the five operators (inside the current TaskGroup) for one TaskRun."""
        ...


def for_settings(settings: Settings) -> Backend:
    if settings.backend == "kubernetes":
        from .kubernetes import KubernetesBackend

        return KubernetesBackend(settings)
    from .local import LocalBackend

    return LocalBackend(settings)
