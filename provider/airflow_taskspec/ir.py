"""The intermediate representation: what a workflow is, independent of the dialect it came from and of Airflow.

Frozen dataclasses only, so compiled files can be cached (pickled) by content hash and compared in tests. No
dialect words here: what a dialect's terms mean (its secret stores, its asset URIs, its argument types) is
translated by the dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from enum import Enum

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
class Origin:
    """Where something was defined: 1-based line and column, as editors show them."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Recipe:
    """How to prepare the environment and start the task's command."""

    kind: ExecutorKind
    command: str
    python_version: str | None = None


@dataclass(frozen=True)
class PythonEnvironment:
    """A Python environment built from a list of requirements (pip specifiers), shared by the tasks naming it."""

    name: str
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Argument:
    """A keyword argument of an entry point, taking the value of the workflow's parameter ``param``."""

    name: str
    param: str


@dataclass(frozen=True)
class NotebookRecipe:
    """Call ``method(**arguments)`` defined in a notebook: only the code cell defining it, or every code cell in
    order with ``full_notebook``; in ``environment``."""

    notebook: str  # relative to the task's project source
    method: str
    environment: PythonEnvironment
    full_notebook: bool = False
    arguments: tuple[Argument, ...] = ()
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


class SecretStore(str, Enum):
    PLATFORM = "platform"
    """The deployment's own store: an Airflow Variable on the local backend, a Kubernetes Secret in pods."""
    VAULT = "vault"
    """HashiCorp Vault: ``SecretRef.vault`` names which one."""


@dataclass(frozen=True)
class SecretRef:
    """A secret injected as an environment variable. The value is never part of the IR."""

    store: SecretStore
    key: str
    inject_as: str
    vault: str | None = None


@dataclass(frozen=True)
class Artifacts:
    paths: tuple[str, ...] = ()
    save_changed_files: bool = False


@dataclass(frozen=True)
class DataSetUse:
    """A data set a task reads (or publishes): staged into the workspace at ``path`` before the task runs.

    ``project`` and ``name`` place it in the artifact store; ``uri`` is the Airflow Asset it is, chosen by the
    dialect.
    """

    project: str
    name: str
    path: str
    uri: str
    producer_dag_id: str | None = None
    size: str | None = None  # Kubernetes quantity the data set declares, if any


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
class TaskInput:
    """Something staged into the workspace before the task runs: a URL's file or folder at ``path``, inline
    ``content`` at ``path``, or the run's value of the workflow parameter ``param`` (file ``inputs/<name>``
    and environment variable ``INPUT_<NAME>``)."""

    name: str
    path: str | None = None
    url: str | None = None
    content: str | None = None
    param: Param | None = None  # also one of the workflow's params


@dataclass(frozen=True)
class TaskOutput:
    """Files the task makes (a file, folder or glob), saved with its artifacts; also copied to ``url``."""

    path: str
    url: str | None = None


@dataclass(frozen=True)
class TaskRun:
    """One execution of one task: a leaf of a workflow's graph, built as provision -> run -> collect."""

    name: str
    recipe: Recipe | NotebookRecipe
    source: ProjectSource
    image: str | None = None
    env: tuple[EnvVar, ...] = ()
    secrets: tuple[SecretRef, ...] = ()
    resources: Resources = Resources()
    artifacts: Artifacts = Artifacts()
    data_sets: tuple[DataSetUse, ...] = ()
    publishes: tuple[DataSetUse, ...] = ()  # data sets this run writes at their ``path``
    inputs: tuple[TaskInput, ...] = ()
    outputs: tuple[TaskOutput, ...] = ()
    timeout_seconds: int | None = None
    retries: int | None = None
    origin: Origin | None = None  # where the task is written (for errors about it)


@dataclass(frozen=True)
class Sequence:
    """Steps one after the other. With ``continue_on_failure`` a failed step does not stop the steps after it
    (the sequence still ends failed), as in a loop of independent tasks."""

    steps: tuple[Step, ...]
    continue_on_failure: bool = False


@dataclass(frozen=True)
class Parallel:
    branches: tuple[Step, ...]


Step = TaskRun | Sequence | Parallel


@dataclass(frozen=True)
class Cron:
    expr: str


@dataclass(frozen=True)
class Continuous:
    pass


@dataclass(frozen=True)
class OnAssets:
    uris: tuple[str, ...]


Schedule = Cron | Continuous | OnAssets | None


def schedule_expression(schedule: Schedule) -> str | None:
    """A time-based schedule as Airflow writes it (cron text or ``@continuous``); None for none or assets."""
    if isinstance(schedule, Cron):
        return schedule.expr
    if isinstance(schedule, Continuous):
        return "@continuous"
    return None


class ParamType(str, Enum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ENUMERATION = "enumeration"  # one of ``Param.allowed``
    FILE = "file"  # a file given at trigger time, staged into the workspace
    ARRAY = "array"  # elements of type ``Param.items`` (any type when None)
    OBJECT = "object"  # keys ``Param.properties`` (any keys when empty)


@dataclass(frozen=True)
class Param:
    """A typed parameter of a workflow: shown in the trigger form, overridable per run."""

    name: str
    type: ParamType
    default: str | None = None  # the default value as JSON text (frozen, hashable); None: no default
    required: bool = False
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str | int | float | bool, ...] = ()
    pattern: str | None = None  # a regular expression a string must match
    items: Param | None = None
    properties: tuple[Param, ...] = ()


@dataclass(frozen=True)
class Workflow:
    """One Airflow DAG to be."""

    dag_id: str
    title: str
    origin: Origin  # where the DAG is defined, for errors that concern it as a whole (e.g. DAG-id clashes)
    source_text: str
    graph: Step
    description: str = ""
    tags: tuple[str, ...] = ()
    owner: str = "taskspec"
    schedule: Schedule = None
    max_active_runs: int | None = None
    params: tuple[Param, ...] = ()
    produces: tuple[str, ...] = ()  # asset URIs this workflow's runs publish
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def source_file(self) -> str:
        return self.origin.file


def task_runs(step: Step) -> list[TaskRun]:
    """Every leaf of a graph, in the order written."""
    if isinstance(step, TaskRun):
        return [step]
    children = step.steps if isinstance(step, Sequence) else step.branches
    return [run for child in children for run in task_runs(child)]


def with_equal_values_shared(workflows: list[Workflow]) -> list[Workflow]:
    """The same workflows, each set of equal values in them held once (a project's source, and the resources,
    environment and recipes its steps repeat). Every parse unpickles the compiled workflows and keeps them in
    the DAGs it builds: fewer objects make that, and Python's garbage collector, cheaper."""
    sharing = _Sharing()
    return [sharing.held(wf) for wf in workflows]  # type: ignore[misc]


class _Sharing:
    """Bottom up: once its parts are the held ones, a value equals another of its type exactly when their parts
    are the same objects, so its key is their ids, and the walk stays linear in the size of the tree. `held`
    keeps every part alive, so no id is reused while the walk runs. The IR is frozen, so sharing is safe."""

    # Keyed by value: these types' == agrees with what a user means (1 == True and 0.0 == -0.0 do not, so
    # numbers other than int go by repr, and the type is part of every key).
    _BY_VALUE = (str, int, bool, type(None))

    def __init__(self) -> None:
        self.held_by_key: dict[tuple[object, ...], object] = {}
        self.held_by_id: dict[int, object] = {}  # parts already walked (normalisation shares some itself)
        self.field_names: dict[type, tuple[str, ...] | None] = {}

    def held(self, value: object) -> object:
        kind = type(value)
        if kind in self._BY_VALUE:
            return self.held_by_key.setdefault((kind, value), value)
        done = self.held_by_id.get(id(value))
        if done is not None:
            return done
        names = self._fields(kind)
        if kind is tuple:
            items = tuple(self.held(item) for item in value)  # type: ignore[attr-defined]
            shared = items if any(a is not b for a, b in zip(items, value)) else value  # type: ignore[call-overload]
            key: tuple[object, ...] = (kind, *map(id, items))
        elif names is not None:
            parts = [self.held(getattr(value, name)) for name in names]
            changed = {name: part for name, part in zip(names, parts) if part is not getattr(value, name)}
            shared = replace(value, **changed) if changed else value  # type: ignore[type-var]
            key = (kind, *map(id, parts))
        else:
            shared, key = value, (kind, repr(value))
        result = self.held_by_key.setdefault(key, shared)
        self.held_by_id[id(value)] = result
        return result

    def _fields(self, kind: type) -> tuple[str, ...] | None:
        if kind not in self.field_names:
            self.field_names[kind] = tuple(f.name for f in fields(kind)) if is_dataclass(kind) else None
        return self.field_names[kind]
