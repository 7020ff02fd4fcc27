"""The intermediate representation: what a workflow is, independent of the dialect it came from and of Airflow.

Frozen dataclasses only, so compiled files can be cached (pickled) by content hash and compared in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Union

# Environment variables the provider sets in every task; a spec that sets one of them is an error.
PROVIDED_ENV_VARS = (
    "TASKSPEC_WORKSPACE",
    "TASKSPEC_DAG_ID",
    "TASKSPEC_RUN_ID",
    "TASKSPEC_TASK",
    "TASKSPEC_ARTIFACT_URL",
    "VIRTUAL_ENV",
)


class ExecutorKind(str, Enum):
    POETRY = "poetry"
    PIP = "pip"
    PIPENV = "pipenv"
    MLFLOW = "mlflow"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Recipe:
    """How to prepare the environment and start the task's command."""

    kind: ExecutorKind
    command: str
    python_version: str | None = None


@dataclass(frozen=True)
class Resources:
    """Kubernetes quantities, already validated; ``extra`` holds any other resource name (e.g. ``amd.com/gpu``)."""

    cpu: str | None = None
    memory: str | None = None
    storage: str | None = None
    gpu: int | None = None
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str


@dataclass(frozen=True)
class SecretRef:
    """A secret injected as an environment variable. The value is never part of the IR."""

    store: str  # "ame" or "vault"
    key: str
    inject_as: str
    vault: str | None = None


@dataclass(frozen=True)
class Artifacts:
    paths: tuple[str, ...] = ()
    save_changed_files: bool = False


@dataclass(frozen=True)
class DataSetUse:
    """A data set a task reads: staged into the workspace at ``path`` before the task runs."""

    project: str
    name: str
    path: str
    producer_dag_id: str | None = None
    size: str | None = None  # Kubernetes quantity the data set declares (AME `dataSets[].size`), if any

    @property
    def uri(self) -> str:
        return asset_uri(self.project, self.name)


def asset_uri(project: str, name: str) -> str:
    return f"ame://{project}/{name}"


@dataclass(frozen=True)
class ProjectSource:
    """Where the task's code comes from: a folder next to the spec file, a git ref, or the image itself."""

    folder: str | None = None
    git_url: str | None = None
    git_ref: str | None = None

    @property
    def in_image(self) -> bool:
        return self.folder is None and self.git_url is None


@dataclass(frozen=True)
class TaskRun:
    """One execution of one task: a leaf of a workflow's graph, built as provision -> run -> collect."""

    name: str
    recipe: Recipe
    source: ProjectSource
    image: str | None = None
    env: tuple[EnvVar, ...] = ()
    secrets: tuple[SecretRef, ...] = ()
    resources: Resources = Resources()
    artifacts: Artifacts = Artifacts()
    data_sets: tuple[DataSetUse, ...] = ()
    publishes: tuple[DataSetUse, ...] = ()  # data sets this run writes at their ``path``
    timeout_seconds: int | None = None
    retries: int | None = None


@dataclass(frozen=True)
class Sequence:
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Parallel:
    branches: tuple[Step, ...]


Step = Union[TaskRun, Sequence, Parallel]


@dataclass(frozen=True)
class Cron:
    expr: str


@dataclass(frozen=True)
class Continuous:
    pass


@dataclass(frozen=True)
class OnAssets:
    uris: tuple[str, ...]


Schedule = Union[Cron, Continuous, OnAssets, None]


def schedule_expression(schedule: Schedule) -> str | None:
    """A time-based schedule as Airflow writes it (cron text or ``@continuous``); None for none or assets."""
    if isinstance(schedule, Cron):
        return schedule.expr
    if isinstance(schedule, Continuous):
        return "@continuous"
    return None


@dataclass(frozen=True)
class Workflow:
    """One Airflow DAG to be."""

    dag_id: str
    title: str
    source_file: str
    source_text: str
    graph: Step
    description: str = ""
    tags: tuple[str, ...] = ()
    owner: str = "taskspec"
    schedule: Schedule = None
    max_active_runs: int | None = None
    produces: tuple[str, ...] = ()  # asset URIs this workflow's runs publish
    warnings: tuple[str, ...] = field(default=(), compare=False)


def task_runs(step: Step) -> list[TaskRun]:
    """Every leaf of a graph, in the order written."""
    if isinstance(step, TaskRun):
        return [step]
    children = step.steps if isinstance(step, Sequence) else step.branches
    return [run for child in children for run in task_runs(child)]
