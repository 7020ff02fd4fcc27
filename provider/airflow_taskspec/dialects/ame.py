"""AME (``ame.yml`` / ``ame.yaml``): models of the file format and their normalisation to the IR.

AME's documentation and AME's real parser disagree in places; both forms are accepted (``name``/``project``,
``!ame`` secrets and ``ame:`` secrets, ``environment``/``env``, ``artifacts``/``artifactCfg``, ``taskRef``/
``taskref``). Keys of older AME generations are stripped before validation with a warning that names their
replacement; whole v0/v1 files are recognised and rejected with a message that says so.

Three steps, each a function: ``read`` (YAML text -> ``ParsedSpec``: generation check, legacy keys, pydantic
models), then ``normalise`` (one project -> Workflows), which needs the other projects of the DAG folder for
cross-project templates and data sets; ``resolve.compile_paths`` provides them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from croniter import croniter
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .. import ir
from ..errors import Diagnostic, Severity, SpecError, did_you_mean, one_of
from ..quantities import SUFFIX_HELP, is_quantity, is_whole_number
from .yaml import TAG_KEY, Document, load

SPEC_FILE_NAMES = ("ame.yaml", "ame.yml")  # in order of preference when a folder has both

EXECUTOR_TAGS: dict[str, ir.ExecutorKind] = {
    "poetry": ir.ExecutorKind.POETRY,
    "pip": ir.ExecutorKind.PIP,
    "pipEnv": ir.ExecutorKind.PIPENV,
    "pipenv": ir.ExecutorKind.PIPENV,
    "mlflow": ir.ExecutorKind.MLFLOW,
    "custom": ir.ExecutorKind.CUSTOM,
}
DOCUMENTED_TAGS = ("!poetry", "!pip", "!pipEnv", "!mlflow", "!custom")
DEFAULT_MLFLOW_COMMAND = "mlflow run ."

# Files an executor's setup reads from the project folder; missing ones fail at compile time, not at run time.
EXECUTOR_PROJECT_FILES: dict[ir.ExecutorKind, tuple[str, ...]] = {
    ir.ExecutorKind.POETRY: ("pyproject.toml", "poetry.lock"),
    ir.ExecutorKind.PIP: ("requirements.txt",),
    ir.ExecutorKind.PIPENV: ("Pipfile", "Pipfile.lock"),
    ir.ExecutorKind.MLFLOW: ("MLproject",),
    ir.ExecutorKind.CUSTOM: (),
}

SCHEDULE_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@continuous")

# Resource names Kubernetes accepts without a domain prefix; anything else must look like `vendor.com/name`.
PLAIN_RESOURCE_NAMES = ("cpu", "memory", "storage", "ephemeral-storage")
_PREFIXED_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_HUGEPAGES = re.compile(r"^hugepages-\d+(Ki|Mi|Gi)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PYTHON_VERSION = re.compile(r"^3(\.\d+){0,2}$")

# Keys that AME v0/v1 files used, per place; each maps to what replaced it. They are warnings, never errors.
LEGACY_PROJECT_KEYS = {
    "projectid": "`name:` at the top of the file",
    "data_sets": "`dataSets:` (a list of `{name, path, task}`)",
}
LEGACY_TASK_KEYS = {
    "projectid": "nothing: the project is the file's folder, named by `name:` at the top",
    "runcommand": "`command:` inside the executor (`executor: !pipEnv` then `command: ...`)",
    "command": "`command:` inside the executor (`executor: !pipEnv` then `command: ...`)",
    "taskType": "the executor tag (`executor: !poetry`, `!pip`, `!pipEnv`, `!mlflow` or `!custom`)",
    "task_type": "the executor tag (`executor: !poetry`, `!pip`, `!pipEnv`, `!mlflow` or `!custom`)",
    "templateRef": "`fromTemplate: {name: ...}`",
    "dataSet": "`dataSets:`",
    "source": "nothing: the folder that holds the ame.yaml is the task's source",
}


# -- models ------------------------------------------------------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, str_strip_whitespace=False)


class Executor(_Model):
    """`executor: !poetry` (or `!pip`, `!pipEnv`/`!pipenv`, `!mlflow`, `!custom`) with its fields below the tag."""

    kind: str = Field(alias=TAG_KEY)
    command: str | None = None
    pythonVersion: str | None = None
    image: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _needs_tag(cls, data: Any) -> Any:
        if isinstance(data, dict) and TAG_KEY not in data:
            raise ValueError(
                "the executor has no executor tag; write the tag on the line after `executor:`, for example "
                f"`executor: !poetry` then `pythonVersion:` and `command:` below it. Tags: {', '.join(DOCUMENTED_TAGS)}"
            )
        if isinstance(data, dict) and "!value" in data:
            raise ValueError(f"write the executor's fields as a mapping below `!{data[TAG_KEY]}` "
                             f"(`command: ...`), not the text '{data['!value']}' after the tag")
        return data

    @field_validator("kind")
    @classmethod
    def _known_tag(cls, value: str) -> str:
        if value not in EXECUTOR_TAGS:
            suggestion = did_you_mean(value, EXECUTOR_TAGS)
            raise ValueError(f"unknown executor tag '!{value}'; use one of {', '.join(DOCUMENTED_TAGS)}"
                             + (f" ({suggestion})" if suggestion else ""))
        return value

    @field_validator("pythonVersion")
    @classmethod
    def _python_version(cls, value: str | None) -> str | None:
        if value is not None and not _PYTHON_VERSION.match(value):
            raise ValueError(f"pythonVersion '{value}' is not a Python 3 version; write it like 3.11 or 3.10.9")
        return value


class EnvEntry(_Model):
    key: str
    val: str = ""

    @field_validator("key")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(f"'{value}' is not an environment variable name; use letters, digits and '_' "
                             "and do not start with a digit")
        return value


class TaskRefObject(_Model):
    name: str

    @model_validator(mode="before")
    @classmethod
    def _same_project(cls, data: Any) -> Any:
        if isinstance(data, dict) and "project" in data:
            raise ValueError("a taskRef names a task of the same project; to reuse settings of another project's "
                             "task, make it a template there and use `fromTemplate: {name, project}`")
        return data


class TemplateRef(_Model):
    name: str
    project: str | None = None


class Triggers(_Model):
    schedule: str | None = None

    @field_validator("schedule")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        return None if value is None else validate_schedule(value)


def validate_schedule(value: str) -> str:
    """A 5-field cron expression or an Airflow preset, with whitespace normalised."""
    text = " ".join(value.split())
    if text.startswith("@"):
        if text not in SCHEDULE_PRESETS:
            suggestion = did_you_mean(text, SCHEDULE_PRESETS)
            raise ValueError(f"unknown schedule preset '{text}'; use one of {one_of(SCHEDULE_PRESETS)} "
                             f"or a 5-field cron{' (' + suggestion + ')' if suggestion else ''}")
        return text
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise ValueError(f"schedule '{value}' is not a valid 5-field cron expression (minute hour day month "
                         'weekday, separated by spaces), for example "0 3 * * *" for 03:00 every day')
    return text


class Artifacts(_Model):
    paths: list[str] = Field(default_factory=list)
    saveChangedFiles: bool = False


class Secret(_Model):
    """`- !ame {key, injectAs}`, AME's real `- ame: {key, injectAs}`, or `- !vault {vault, key, injectAs}`."""

    store: Literal["ame", "vault"] = Field(alias=TAG_KEY)
    key: str
    injectAs: str
    vault: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _untagged_form(cls, data: Any) -> Any:
        # AME's own parser wrote `- ame: {key, injectAs}` instead of the documented `- !ame` tag.
        if isinstance(data, dict) and TAG_KEY not in data and len(data) == 1:
            (store, body), = data.items()
            if store in ("ame", "vault") and isinstance(body, dict):
                return {TAG_KEY: store, **body}
        if isinstance(data, dict) and TAG_KEY not in data:
            raise ValueError("a secret needs its store: write `- !ame` (AME's secret store) or `- !vault`, "
                             "then `key:` and `injectAs:` below it")
        if isinstance(data, dict) and data.get(TAG_KEY) not in ("ame", "vault"):
            raise ValueError(f"unknown secret tag '!{data.get(TAG_KEY)}'; use `!ame` or `!vault`")
        return data

    @field_validator("injectAs")
    @classmethod
    def _env_name(cls, value: str) -> str:
        return EnvEntry._env_name(value)

    @model_validator(mode="after")
    def _vault_named(self) -> Secret:
        if self.store == "vault" and not self.vault:
            raise ValueError(f"the `!vault` secret '{self.injectAs}' needs `vault:`, the name of the vault to read from")
        return self


class DataSetRefBody(_Model):
    name: str
    project: str | None = None


class DataSetRef(_Model):
    """A data set a task reads: `name`, `project.name`, or `{ref: {name, project}}`."""

    ref: DataSetRefBody


def _check_resources(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    for name, quantity in value.items():
        if name not in PLAIN_RESOURCE_NAMES and not _HUGEPAGES.match(name) and not _PREFIXED_RESOURCE.match(name):
            suggestion = did_you_mean(name, PLAIN_RESOURCE_NAMES + ("nvidia.com/gpu",))
            raise ValueError(f"unknown resource '{name}'; use cpu, memory, storage, nvidia.com/gpu or another "
                             f"Kubernetes resource name like vendor.com/device"
                             + (f" ({suggestion})" if suggestion else ""))
        if quantity is None or not is_quantity(str(quantity)):
            raise ValueError(f"resource '{name}': '{quantity}' is not a Kubernetes quantity; write {SUFFIX_HELP}")
        if name.endswith("/gpu") and not is_whole_number(str(quantity)):
            raise ValueError(f"resource '{name}': GPUs are whole numbers only, not '{quantity}'")
    return value


class Task(_Model):
    """A task, a pipeline step, a template (a partial task), a model's training or validation task."""

    name: str | None = None
    fromTemplate: TemplateRef | str | None = None
    executor: Executor | None = None
    taskRef: str | TaskRefObject | None = Field(default=None, validation_alias=AliasChoices("taskRef", "taskref"))
    pipeline: list[list[Task] | Task] | None = None
    resources: dict[str, str] | None = None
    environment: list[EnvEntry] | None = Field(default=None, validation_alias=AliasChoices("environment", "env"))
    secrets: list[Secret] | None = None
    triggers: Triggers | None = None
    artifacts: Artifacts | None = Field(default=None, validation_alias=AliasChoices("artifacts", "artifactCfg"))
    image: str | None = None
    dataSets: list[DataSetRef | str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for a, b in (("environment", "env"), ("artifacts", "artifactCfg"), ("taskRef", "taskref")):
                if a in data and b in data:
                    raise ValueError(f"`{a}` and `{b}` are two spellings of one key; keep one of them")
        return data

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _check_resources(value)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"task name '{value}' may only contain letters, digits, '-' and '_'")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Task:
        kinds = [k for k, v in (("executor", self.executor), ("taskRef", self.taskRef), ("pipeline", self.pipeline))
                 if v is not None]
        if len(kinds) > 1:
            raise ValueError(f"a task has either an executor, a taskRef or a pipeline, not {' and '.join(kinds)}")
        return self

    @property
    def ref_name(self) -> str | None:
        if self.taskRef is None:
            return None
        return self.taskRef if isinstance(self.taskRef, str) else self.taskRef.name


class Training(_Model):
    task: Task
    schedule: str | None = None

    @field_validator("schedule")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        return None if value is None else validate_schedule(value)


class Validation(_Model):
    task: Task


class Model(_Model):
    name: str
    training: Training
    validationTask: Task | None = None
    validation: Validation | None = None
    deployment: Any = None
    modelType: str | None = None

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        return Task._plain_name(value) or value

    @model_validator(mode="after")
    def _one_validation(self) -> Model:
        if self.validationTask is not None and self.validation is not None:
            raise ValueError(f"model '{self.name}' sets both `validationTask` and `validation.task`; keep one")
        return self


class DataSet(_Model):
    name: str
    path: str
    task: Task
    size: str | None = None

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        return Task._plain_name(value) or value

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and not is_quantity(value):
            raise ValueError(f"data set size '{value}' is not a Kubernetes quantity; write {SUFFIX_HELP}")
        return value


class Project(_Model):
    name: str = Field(validation_alias=AliasChoices("name", "project"))
    tasks: list[Task] | None = None
    templates: list[Task] | None = None
    models: list[Model] | None = None
    dataSets: list[DataSet] | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_once(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" in data and "project" in data:
            raise ValueError("`name` and `project` both set the project name; keep one of them")
        return data

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"project name '{value}' may only contain letters, digits, '-' and '_' "
                             "(it becomes the first part of every DAG id)")
        return value


# -- validation errors -> file:line:column ----------------------------------------------------------------------

_ALIASES = {"environment": ("env",), "artifacts": ("artifactCfg",), "taskRef": ("taskref",), "name": ("project",)}


def _model_keys(model: type[BaseModel]) -> list[str]:
    keys: list[str] = []
    for field_name, info in model.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            keys.extend(str(a) for a in alias.choices)
        elif info.alias:
            keys.append(info.alias)
        else:
            keys.append(field_name)
    return [k for k in keys if k != TAG_KEY]


def _field_model(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    """The model a key's value is validated as (unwrapping Optional, list and union), if it is one."""
    for field_name, info in model.model_fields.items():
        names = {field_name, str(info.alias or "")} | set(_ALIASES.get(field_name, ()))
        if key in names:
            return _first_model(info.annotation)
    return None


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, str):
        return Task if annotation == "Task" else None
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _owner_model(path: tuple[Any, ...]) -> type[BaseModel]:
    """The model whose keys are valid at the place that holds the last element of ``path``."""
    model: type[BaseModel] = Project
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        inner = _field_model(model, part)
        if inner is None:
            return model
        model = inner
    return model


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic inserts union branch names ("Task", "list[Task]", "str", "DataSetRef") and validator names.
    return tuple(p for p in loc if isinstance(p, int) or not (
        "[" in p or p.startswith("function") or (p[:1].isupper() and p not in ("!tag",)) or p in ("str",)))


_EXPECTED = {"string_type": "a string", "dict_type": "a mapping", "list_type": "a list", "model_type": "a mapping",
             "model_attributes_type": "a mapping", "bool_parsing": "true or false", "bool_type": "true or false"}
_HOW_TO_WRITE = {
    "a string": "write plain text after the colon, for example `{key}: my_value`; `[...]` makes a list and "
                "`{{...}}` a mapping, so quote text that starts with them",
    "a mapping": "write its keys indented on the lines below `{key}:`",
    "a list": "write each entry on its own line below `{key}:`, starting with `- `",
    "true or false": "write `{key}: true` or `{key}: false`",
}


def _kind_of(value: Any) -> str:
    return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else (
        "empty" if value is None else f"the text '{value}'")


def diagnostics_from(doc: Document, exc: ValidationError) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for err in exc.errors(include_url=False):
        loc = _clean_loc(tuple(err["loc"]))
        where = f"'{loc[-1]}'" if loc and isinstance(loc[-1], str) else "this entry"
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            keys = _model_keys(_owner_model(loc))
            mark = doc.mark(loc, key=True)
            msg, hint = f"unknown key '{key}'", did_you_mean(key, keys) or f"accepted keys here: {one_of(keys)}"
        elif err["type"] == "missing":
            mark = doc.mark(loc[:-1])
            msg, hint = f"missing required key '{loc[-1]}'", f"add `{loc[-1]}:` here"
        elif err["type"] in _EXPECTED:
            mark = doc.mark(loc)
            expected = _EXPECTED[err["type"]]
            msg = f"{where} must be {expected}, not {_kind_of(err['input'])}"
            key_name = loc[-1] if loc and isinstance(loc[-1], str) else "the key"
            hint = _HOW_TO_WRITE[expected].format(key=key_name)
        else:
            mark = doc.mark(loc)
            msg, hint = err["msg"].removeprefix("Value error, "), ""
        out.append(Diagnostic(doc.file, mark.line, mark.column, msg, hint))
    return _most_specific(out)


def _most_specific(diags: list[Diagnostic]) -> list[Diagnostic]:
    # A union reports every branch's failure; keep one message per place, preferring a specific one.
    by_place: dict[tuple[int, int], Diagnostic] = {}
    for d in sorted(diags, key=lambda d: (d.line, d.column)):
        current = by_place.get((d.line, d.column))
        if current is None or ("must be" in current.message and "must be" not in d.message):
            by_place[(d.line, d.column)] = d
    return list(by_place.values())


# -- reading: generations, legacy keys, models -------------------------------------------------------------------

@dataclass
class ParsedSpec:
    """One validated AME file. Picklable, so resolve can cache it by content hash."""

    doc: Document
    project: Project
    warnings: list[Diagnostic] = field(default_factory=list)
    legacy_keys: dict[tuple[Any, ...], list[str]] = field(default_factory=dict)  # task path -> stripped keys

    @property
    def folder(self) -> str:
        return os.path.dirname(os.path.abspath(self.doc.file))


def _warning(doc: Document, path: tuple[Any, ...], message: str, hint: str = "") -> Diagnostic:
    m = doc.mark(path, key=True)
    return Diagnostic(doc.file, m.line, m.column, message, hint, Severity.WARNING)


def _check_generation(doc: Document, data: dict[str, Any]) -> None:
    """Reject whole AME v0 and v1 files with a message that says which generation they are."""
    if "projectname" in data or isinstance(data.get("tasks"), dict):
        path: tuple[Any, ...] = ("projectname",) if "projectname" in data else ("tasks",)
        raise doc.error(path, "this is an AME v0 file (`projectname:`, `tasks:` as a map of name to spec, "
                        "`runcommand:`); taskspec reads the current AME format",
                        "write `name: <project>` instead of `projectname:`, make `tasks:` a list of `- name: <task>`, "
                        "and replace `runcommand:` by `executor: !pipEnv` (or !poetry, !pip, !mlflow, !custom) "
                        "with `command:` under it", key=True)
    if "projectid" in data and "name" not in data and "project" not in data:
        raise doc.error(("projectid",), "this is an AME v1 file (`projectid:` instead of `name:`); taskspec reads "
                        "the current AME format",
                        "replace `projectid:` by `name:`, `task_type`/`taskType` and `command:` by `executor: !poetry` "
                        "(or !pip, !pipEnv, !mlflow, !custom) with `command:` under it, `templateRef` by "
                        "`fromTemplate`, and drop `source:`", key=True)


def _task_places(data: dict[str, Any]) -> Iterable[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every mapping in the file that is read as a task, with its path."""
    def walk(node: Any, path: tuple[Any, ...]) -> Iterable[tuple[tuple[Any, ...], dict[str, Any]]]:
        if not isinstance(node, dict):
            return
        yield path, node
        for i, step in enumerate(node.get("pipeline") or [] if isinstance(node.get("pipeline"), list) else []):
            if isinstance(step, list):
                for j, branch in enumerate(step):
                    yield from walk(branch, path + ("pipeline", i, j))
            else:
                yield from walk(step, path + ("pipeline", i))

    def each(key: str) -> list[tuple[int, Any]]:
        value = data.get(key)
        return list(enumerate(value)) if isinstance(value, list) else []

    for key in ("tasks", "templates"):
        for i, task in each(key):
            yield from walk(task, (key, i))
    for i, model in each("models"):
        if isinstance(model, dict):
            training = model.get("training")
            if isinstance(training, dict):
                yield from walk(training.get("task"), ("models", i, "training", "task"))
            yield from walk(model.get("validationTask"), ("models", i, "validationTask"))
            validation = model.get("validation")
            if isinstance(validation, dict):
                yield from walk(validation.get("task"), ("models", i, "validation", "task"))
    for i, data_set in each("dataSets"):
        if isinstance(data_set, dict):
            yield from walk(data_set.get("task"), ("dataSets", i, "task"))


def _strip_legacy(doc: Document, data: dict[str, Any]) -> tuple[dict[str, Any], list[Diagnostic], dict[tuple[Any, ...], list[str]]]:
    """A copy of ``data`` without legacy keys, a warning for each, and which keys each task lost."""
    warnings: list[Diagnostic] = []
    stripped: dict[tuple[Any, ...], list[str]] = {}
    replacements: dict[int, dict[str, Any]] = {}  # id(original task mapping) -> cleaned copy

    for path, task in _task_places(data):
        legacy = [k for k in task if k in LEGACY_TASK_KEYS]
        if "taskref" in task:
            warnings.append(_warning(doc, path + ("taskref",), "`taskref` is accepted but AME documents `taskRef`",
                                     "write `taskRef:`"))
        if not legacy:
            continue
        stripped[path] = legacy
        for key in legacy:
            warnings.append(_warning(doc, path + (key,), f"`{key}` is a key of older AME files and is ignored here",
                                     f"it was replaced by {LEGACY_TASK_KEYS[key]}"))
        replacements[id(task)] = {k: v for k, v in task.items() if k not in LEGACY_TASK_KEYS}

    cleaned = _rebuild(data, replacements)
    for key in [k for k in cleaned if k in LEGACY_PROJECT_KEYS]:
        warnings.append(_warning(doc, (key,), f"`{key}` is a key of older AME files and is ignored here",
                                 f"it was replaced by {LEGACY_PROJECT_KEYS[key]}"))
        del cleaned[key]
    return cleaned, warnings, stripped


def _rebuild(node: Any, replacements: dict[int, dict[str, Any]]) -> Any:
    # Copies only what changed, so the Document's own data (and its marks' paths) stay as parsed.
    if isinstance(node, dict):
        base = replacements.get(id(node), node)
        return {k: _rebuild(v, replacements) for k, v in base.items()}
    if isinstance(node, list):
        return [_rebuild(v, replacements) for v in node]
    return node


def parse(doc: Document) -> ParsedSpec:
    if not isinstance(doc.data, dict):
        raise doc.error((), "an AME file must be a mapping with `name:` and `tasks:`",
                        "start the file with `name: my_project` and a `tasks:` list")
    _check_generation(doc, doc.data)
    cleaned, warnings, stripped = _strip_legacy(doc, doc.data)
    try:
        project = Project.model_validate(cleaned)
    except ValidationError as exc:
        raise SpecError(diagnostics_from(doc, exc) + warnings) from None
    _check_unique_names(doc, project)
    for i, model in enumerate(project.models or []):
        if model.deployment is not None:
            warnings.append(_warning(doc, ("models", i, "deployment"),
                                     f"model '{model.name}': `deployment` is not supported by taskspec and is ignored",
                                     "serve the model with your own deployment; its training still runs"))
        if model.modelType is not None:
            warnings.append(_warning(doc, ("models", i, "modelType"),
                                     f"model '{model.name}': `modelType` is not used by taskspec and is ignored"))
    return ParsedSpec(doc, project, warnings, stripped)


def _check_unique_names(doc: Document, project: Project) -> None:
    errors: list[Diagnostic] = []
    for key, items in (("tasks", project.tasks), ("templates", project.templates), ("models", project.models),
                       ("dataSets", project.dataSets)):
        seen: dict[str, int] = {}
        for i, item in enumerate(items or []):
            name = item.name
            if name is None:
                continue
            if name in seen:
                m = doc.mark((key, i, "name"))
                errors.append(Diagnostic(doc.file, m.line, m.column,
                                         f"{key[:-1]} name '{name}' is used twice (first at line "
                                         f"{doc.mark((key, seen[name], 'name')).line})", "rename one of them"))
            else:
                seen[name] = i
    if errors:
        raise SpecError(errors)


def read(path: str, text: str | None = None) -> ParsedSpec:
    if text is None:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    return parse(load(path, text))


# -- normalisation -----------------------------------------------------------------------------------------------

Lookup = Callable[[str], "ParsedSpec | None"]
"""Finds a project of the DAG folder by its name (for cross-project templates and data sets)."""

_SETTINGS = ("resources", "environment", "secrets", "image", "artifacts", "dataSets")
"""Fields a pipeline passes down to its steps, and a taskRef step may set on top of the task it names."""
_KINDS = ("executor", "taskRef", "pipeline")


def merge(base: Task, top: Task) -> Task:
    """``top`` over ``base``: a field set in ``top`` wins; resources merge by name, environment by key,
    secrets by injectAs and data sets by name, entry by entry, with ``top``'s entry winning."""
    update: dict[str, Any] = {f: getattr(top, f) for f in top.model_fields_set}
    if any(k in top.model_fields_set for k in _KINDS):
        for kind in _KINDS:  # a task that says how it runs replaces the template's way entirely
            update.setdefault(kind, None)
    if base.resources and top.resources is not None:
        update["resources"] = {**base.resources, **top.resources}
    if base.environment and top.environment is not None:
        update["environment"] = _merge_keyed(base.environment, top.environment, lambda e: e.key)
    if base.secrets and top.secrets is not None:
        update["secrets"] = _merge_keyed(base.secrets, top.secrets, lambda s: s.injectAs)
    if base.dataSets and top.dataSets is not None:
        update["dataSets"] = _merge_keyed(base.dataSets, top.dataSets, _data_set_key)
    update["fromTemplate"] = None
    return base.model_copy(update=update)


def _merge_keyed(base: list[Any], top: list[Any], key: Callable[[Any], str]) -> list[Any]:
    winners = {key(item): item for item in top}
    merged = [winners.pop(key(item), item) for item in base]
    return merged + [item for item in top if key(item) in winners]


def _data_set_key(ref: DataSetRef | str) -> str:
    return ref if isinstance(ref, str) else f"{ref.ref.project or ''}.{ref.ref.name}"


def _settings_of(task: Task) -> Task:
    return Task.model_construct(**{f: getattr(task, f) for f in _SETTINGS if f in task.model_fields_set},
                                _fields_set={f for f in _SETTINGS if f in task.model_fields_set})


@dataclass
class Normalised:
    workflows: list[ir.Workflow]
    warnings: list[Diagnostic]
    depends_on: set[str]  # names of other projects whose content this result used
    checked_files: dict[str, bool]  # project files looked for -> whether they existed


@dataclass(frozen=True)
class _Place:
    """A project and a position inside its file: where a task, template or reference was written."""

    spec: ParsedSpec
    path: tuple[Any, ...]

    def at(self, *more: Any) -> _Place:
        return _Place(self.spec, self.path + more)

    def error(self, message: str, hint: str = "", *, key: bool = False) -> SpecError:
        return self.spec.doc.error(self.path, message, hint, key=key)


class _Normaliser:
    """Turns one validated project into Workflows."""

    def __init__(self, spec: ParsedSpec, lookup: Lookup, project_names: Iterable[str]) -> None:
        self.spec = spec
        self.lookup = lookup
        self.project_names = sorted(project_names)
        self.project = spec.project
        self.depends_on: set[str] = set()
        self.checked_files: dict[str, bool] = {}
        self.warnings: list[Diagnostic] = []

    # -- workflows ---------------------------------------------------------------------------------------------
    def workflows(self, only_dag_id: str | None = None) -> list[ir.Workflow]:
        builders: list[tuple[str, Callable[[], ir.Workflow]]] = []
        for i, task in enumerate(self.project.tasks or []):
            if task.name:
                builders.append((self.dag_id(task.name), lambda i=i, task=task: self.task_workflow(i, task)))
            else:
                self.warnings.append(_warning(self.spec.doc, ("tasks", i),
                                              "this task has no `name`, so it gets no DAG", "add `name:`"))
        for i, model in enumerate(self.project.models or []):
            builders.append((self.dag_id(model.name, "training"), lambda i=i, model=model: self.model_workflow(i, model)))
        for i, data_set in enumerate(self.project.dataSets or []):
            if data_set.task.taskRef is None:
                builders.append((self.producer_dag_id(data_set),
                                 lambda i=i, ds=data_set: self.data_set_workflow(i, ds)))
        errors: list[Diagnostic] = []
        out: list[ir.Workflow] = []
        for dag_id, build in builders:
            if only_dag_id is not None and dag_id != only_dag_id:
                continue
            try:
                out.append(build())
            except SpecError as exc:
                errors.extend(exc.diagnostics)
        if errors:
            raise SpecError(_dedupe(errors))
        return self._with_produces(out)

    def dag_id(self, *parts: str) -> str:
        return ".".join((self.project.name,) + parts)

    def producer_dag_id(self, data_set: DataSet) -> str:
        task = data_set.task
        return self.dag_id(task.ref_name or task.name or data_set.name)

    def _workflow(self, dag_id: str, title: str, description: str, graph: ir.Step, schedule: ir.Schedule,
                  extra_warnings: tuple[str, ...] = ()) -> ir.Workflow:
        file_warnings = tuple(d.format() for d in self.spec.warnings) + extra_warnings
        return ir.Workflow(
            dag_id=dag_id, title=title, source_file=self.spec.doc.file, source_text=self.spec.doc.text,
            graph=_unique_names(graph), description=description, tags=("ame", self.project.name),
            schedule=schedule, warnings=file_warnings,
        )

    def task_workflow(self, index: int, task: Task) -> ir.Workflow:
        assert task.name is not None
        place = _Place(self.spec, ("tasks", index))
        resolved = self.expand(task, place, stack=())
        return self._workflow(self.dag_id(task.name), f"{self.project.name} / {task.name}",
                              f"AME task `{task.name}` of project `{self.project.name}`",
                              self.step(resolved, place, stack=(task.name,), top=True),
                              _schedule(resolved.triggers))

    def model_workflow(self, index: int, model: Model) -> ir.Workflow:
        place = _Place(self.spec, ("models", index))
        training_place = place.at("training", "task")
        training = self.expand(model.training.task, training_place, stack=())
        graph = self.step(training, training_place, stack=(), top=True)
        validation = model.validationTask or (model.validation.task if model.validation else None)
        if validation is not None:
            vplace = place.at("validationTask") if model.validationTask else place.at("validation", "task")
            checked = self.step(self.expand(validation, vplace, stack=()), vplace, stack=())
            graph = ir.Sequence((graph, checked))
        schedule = (ir.Cron(model.training.schedule) if model.training.schedule and model.training.schedule != "@continuous"
                    else ir.Continuous() if model.training.schedule else _schedule(training.triggers))
        notes = (f"model '{model.name}': deployment is not supported by taskspec; only training"
                 f"{' and validation' if validation else ''} run here",) if model.deployment is not None else ()
        return self._workflow(self.dag_id(model.name, "training"), f"{self.project.name} / {model.name} training",
                              f"Training of AME model `{model.name}` of project `{self.project.name}`"
                              + (", then its validation task" if validation else ""), graph, schedule, notes)

    def data_set_workflow(self, index: int, data_set: DataSet) -> ir.Workflow:
        place = _Place(self.spec, ("dataSets", index, "task"))
        task = data_set.task if data_set.task.name else data_set.task.model_copy(update={"name": data_set.name})
        resolved = self.expand(task, place, stack=())
        top_level = {t.name for t in self.project.tasks or []}
        if task.name in top_level:
            raise place.at("name").error(
                f"data set '{data_set.name}': its task is named '{task.name}', like a task of this project, "
                "so both would be the same DAG", f"write `taskRef: {task.name}` to use that task, or rename this one")
        return self._workflow(self.producer_dag_id(data_set), f"{self.project.name} / {task.name}",
                              f"Produces AME data set `{data_set.name}` of project `{self.project.name}`",
                              self.step(resolved, place, stack=(str(task.name),), top=True),
                              _schedule(resolved.triggers))

    def _with_produces(self, workflows: list[ir.Workflow]) -> list[ir.Workflow]:
        """Mark each data set's producer DAG: the URI it publishes, and the path its last steps write."""
        produced: dict[str, list[DataSet]] = {}
        for data_set in self.project.dataSets or []:
            produced.setdefault(self.producer_dag_id(data_set), []).append(data_set)
        out = []
        for wf in workflows:
            data_sets = produced.get(wf.dag_id, [])
            if not data_sets:
                out.append(wf)
                continue
            uses = tuple(ir.DataSetUse(self.project.name, ds.name, ds.path, wf.dag_id, ds.size) for ds in data_sets)
            out.append(replace(wf, produces=tuple(u.uri for u in uses), graph=_mark_outputs(wf.graph, uses)))
        return out

    # -- tasks -------------------------------------------------------------------------------------------------
    def expand(self, task: Task, place: _Place, stack: tuple[str, ...]) -> Task:
        """The task with its templates applied and, for a taskRef, merged over the task it names."""
        task = self.apply_template(task, place, chain=())
        if task.taskRef is None:
            return task
        ref = str(task.ref_name)
        target_index, target = self.find_task(ref, place)
        if ref in stack:
            raise place.at(_ref_key(place)).error(f"task references form a cycle: {' -> '.join(stack + (ref,))}",
                                                  "a task cannot run itself; remove one of the references")
        target_place = _Place(self.spec, ("tasks", target_index))
        inner = self.expand(target, target_place, stack + (ref,))
        merged = merge(inner, _settings_of(task))
        return merged.model_copy(update={"name": task.name or target.name, "triggers": task.triggers or inner.triggers})

    def find_task(self, ref: str, place: _Place) -> tuple[int, Task]:
        for i, t in enumerate(self.project.tasks or []):
            if t.name == ref:
                return i, t
        names = [t.name for t in self.project.tasks or [] if t.name]
        raise place.at(_ref_key(place)).error(
            f"taskRef '{ref}' names no task of project '{self.project.name}'",
            did_you_mean(ref, names) or f"tasks in this project: {one_of(names) or 'none'}")

    def apply_template(self, task: Task, place: _Place, chain: tuple[str, ...]) -> Task:
        if task.fromTemplate is None:
            return task
        project_name, name = _template_key(task.fromTemplate, place.spec.project.name)
        key = f"{project_name}.{name}"
        if key in chain:
            raise place.at("fromTemplate").error(f"templates form a cycle: {' -> '.join(chain + (key,))}",
                                                 "remove `fromTemplate` from one of these templates", key=True)
        owner = self.project_named(project_name, place)
        templates = owner.project.templates or []
        for i, template in enumerate(templates):
            if template.name == name:
                base = self.apply_template(template, _Place(owner, ("templates", i)), chain + (key,))
                merged = merge(base, task)
                return merged.model_copy(update={"name": task.name})
        names = [t.name for t in templates if t.name]
        raise place.at("fromTemplate").error(
            f"fromTemplate: project '{project_name}' has no template '{name}'",
            did_you_mean(name, names) or f"templates in '{project_name}': {one_of(names) or 'none'}")

    def project_named(self, name: str, place: _Place) -> ParsedSpec:
        if name == place.spec.project.name:
            return place.spec
        if name == self.project.name:
            return self.spec
        found = self.lookup(name)
        if found is None:
            raise place.at("fromTemplate" if "fromTemplate" in _raw(place) else ()).error(
                f"no AME project named '{name}' in the DAG folder",
                did_you_mean(name, self.project_names) or f"projects found: {one_of(self.project_names) or 'none'}")
        self.depends_on.add(name)
        return found

    def step(self, task: Task, place: _Place, stack: tuple[str, ...], top: bool = False) -> ir.Step:
        """An expanded task as a graph: a pipeline becomes a Sequence (nested lists Parallel), else a TaskRun."""
        if not top and "triggers" in _raw(place):
            self.warnings.append(_warning(self.spec.doc, place.path,
                                          f"`triggers` of pipeline step '{task.name}' are ignored",
                                          "schedules belong to the task that is the DAG (the pipeline itself)"))
        if task.pipeline is not None:
            inherited = _settings_of(task)
            name = task.name
            out: list[ir.Step] = []
            for i, item in enumerate(task.pipeline):
                if isinstance(item, list):
                    out.append(ir.Parallel(tuple(self.child(c, inherited, place.at("pipeline", i, j), stack, name)
                                                 for j, c in enumerate(item))))
                else:
                    out.append(self.child(item, inherited, place.at("pipeline", i), stack, name))
            return ir.Sequence(tuple(out))
        if task.executor is None:
            raise self.no_executor(task, place)
        return self.task_run(task, place)

    def child(self, item: Task, inherited: Task, place: _Place, stack: tuple[str, ...], parent: str | None) -> ir.Step:
        resolved = merge(inherited, self.expand(item, place, stack)) if inherited.model_fields_set else \
            self.expand(item, place, stack)
        if resolved.name is None:
            raise place.error("a pipeline step needs a `name` (or a `taskRef` to a named task)",
                              "add `name: <step>`")
        next_stack = stack + ((item.ref_name,) if item.ref_name else ())
        return self.step(resolved, place, next_stack)

    def no_executor(self, task: Task, place: _Place) -> SpecError:
        legacy = [k for k in self.spec.legacy_keys.get(place.path, []) if k in ("command", "runcommand", "taskType",
                                                                               "task_type", "templateRef")]
        if legacy:
            keys = ", ".join(f"`{k}`" for k in legacy)
            hint = (f"{keys} {'are' if len(legacy) > 1 else 'is'} from older AME files: the executor replaced them. "
                    "Write `executor: !pipEnv` (or !poetry, !pip, !mlflow, !custom) with `command:` under it")
        else:
            hint = ("add `executor: !pip` with `pythonVersion:` and `command:`, refer to another task with "
                    "`taskRef: NAME`, or use `fromTemplate` with a template that has an executor")
        return place.error(f"task '{task.name}' has no executor", hint)

    def task_run(self, task: Task, place: _Place) -> ir.TaskRun:
        assert task.executor is not None and task.name is not None
        ex = task.executor
        kind = EXECUTOR_TAGS[ex.kind]
        command = ex.command or (DEFAULT_MLFLOW_COMMAND if kind is ir.ExecutorKind.MLFLOW else None)
        ex_place = place.at("executor") if "executor" in _raw(place) else place
        if not command:
            raise ex_place.error(f"the `!{ex.kind}` executor of task '{task.name}' needs a `command`",
                                 "add `command: python main.py` (what to run in the project folder)", key=True)
        self.check_project_files(kind, ex.kind, task.name, ex_place)
        return ir.TaskRun(
            name=task.name,
            recipe=ir.Recipe(kind=kind, command=command, python_version=ex.pythonVersion),
            source=ir.ProjectSource(folder=self.spec.folder),
            image=ex.image or task.image,
            env=self.env(task, place),
            secrets=self.secrets(task, place),
            resources=_resources(task.resources or {}),
            artifacts=ir.Artifacts(tuple(task.artifacts.paths), task.artifacts.saveChangedFiles)
            if task.artifacts else ir.Artifacts(),
            data_sets=tuple(self.data_set_use(ref, place) for ref in task.dataSets or []),
        )

    def check_project_files(self, kind: ir.ExecutorKind, tag: str, task: str, place: _Place) -> None:
        missing = []
        for name in EXECUTOR_PROJECT_FILES[kind]:
            path = os.path.join(self.spec.folder, name)
            exists = self.checked_files.setdefault(path, os.path.isfile(path))
            if not exists:
                missing.append(name)
        if missing:
            raise place.error(f"the `!{tag}` executor of task '{task}' needs {' and '.join(missing)} in the project "
                              f"folder {self.spec.folder}, which has no {missing[0]}",
                              f"add {' and '.join(missing)} next to the ame.yaml, or choose another executor", key=True)

    def env(self, task: Task, place: _Place) -> tuple[ir.EnvVar, ...]:
        seen: set[str] = set()
        for entry in task.environment or []:
            if entry.key in ir.PROVIDED_ENV_VARS or entry.key.startswith("TASKSPEC_"):
                raise self._entry_place(place, ("environment", "env"), "key", entry.key).error(
                    f"environment variable '{entry.key}' is set by taskspec itself and cannot be overridden",
                    f"rename it; taskspec sets {', '.join(ir.PROVIDED_ENV_VARS)} and every TASKSPEC_* variable")
            if entry.key in seen:
                raise self._entry_place(place, ("environment", "env"), "key", entry.key).error(
                    f"environment variable '{entry.key}' is set twice in task '{task.name}'", "keep one of the two")
            seen.add(entry.key)
        return tuple(ir.EnvVar(e.key, e.val) for e in task.environment or [])

    def secrets(self, task: Task, place: _Place) -> tuple[ir.SecretRef, ...]:
        env_keys = {e.key for e in task.environment or []}
        seen: set[str] = set()
        for s in task.secrets or []:
            problem = ("is set by taskspec itself" if s.injectAs in ir.PROVIDED_ENV_VARS or s.injectAs.startswith("TASKSPEC_")
                       else "is also set in `environment`" if s.injectAs in env_keys
                       else "is injected by two secrets" if s.injectAs in seen else "")
            if problem:
                raise self._entry_place(place, ("secrets",), "injectAs", s.injectAs).error(
                    f"secret injectAs '{s.injectAs}' {problem} in task '{task.name}'",
                    "give the secret another `injectAs` name")
            seen.add(s.injectAs)
        return tuple(ir.SecretRef(s.store, s.key, s.injectAs, s.vault) for s in task.secrets or [])

    def _entry_place(self, place: _Place, lists: tuple[str, ...], field_name: str, value: str) -> _Place:
        # The entry as written in this task, if it is; otherwise it came from a template or a pipeline.
        raw = _raw(place)
        for key in lists:
            for i, entry in enumerate(raw.get(key) or [] if isinstance(raw.get(key), list) else []):
                body = entry.get("ame") or entry.get("vault") if isinstance(entry, dict) and len(entry) == 1 else entry
                if isinstance(body, dict) and body.get(field_name) == value:
                    return place.at(key, i, *((("ame",) if "ame" in entry else ("vault",)) if body is not entry else ()),
                                    field_name)
        return place

    def data_set_use(self, ref: DataSetRef | str, place: _Place) -> ir.DataSetUse:
        if isinstance(ref, DataSetRef):
            project_name, name = ref.ref.project or self.project.name, ref.ref.name
        else:
            project_name, _, name = ref.rpartition(".")
            project_name = project_name or self.project.name
        ref_place = place.at("dataSets") if "dataSets" in _raw(place) else place
        owner = self.spec if project_name == self.project.name else self.lookup(project_name)
        if owner is None:
            raise ref_place.error(f"data set '{project_name}.{name}': no AME project named '{project_name}' in the "
                                  "DAG folder", did_you_mean(project_name, self.project_names)
                                  or f"projects found: {one_of(self.project_names) or 'none'}")
        if owner is not self.spec:
            self.depends_on.add(project_name)
        for data_set in owner.project.dataSets or []:
            if data_set.name == name:
                producer = _Normaliser(owner, self.lookup, self.project_names).producer_dag_id(data_set)
                return ir.DataSetUse(project_name, name, data_set.path, producer, data_set.size)
        names = [d.name for d in owner.project.dataSets or []]
        raise ref_place.error(f"project '{project_name}' has no data set '{name}'",
                              did_you_mean(name, names) or f"data sets in '{project_name}': {one_of(names) or 'none'}")


def _raw(place: _Place) -> dict[str, Any]:
    node: Any = place.spec.doc.data
    for p in place.path:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return {}
    return node if isinstance(node, dict) else {}


def _ref_key(place: _Place) -> str:
    return "taskref" if "taskref" in _raw(place) else "taskRef"


def _template_key(ref: TemplateRef | str, own_project: str) -> tuple[str, str]:
    if isinstance(ref, TemplateRef):
        return ref.project or own_project, ref.name
    project, _, name = ref.rpartition(".")  # the documented dotted form `project.template`
    return project or own_project, name


def _schedule(triggers: Triggers | None) -> ir.Schedule:
    if triggers is None or triggers.schedule is None:
        return None
    return ir.Continuous() if triggers.schedule == "@continuous" else ir.Cron(triggers.schedule)


def _resources(res: dict[str, str]) -> ir.Resources:
    rest = dict(res)
    gpu = rest.pop("nvidia.com/gpu", None)
    return ir.Resources(cpu=rest.pop("cpu", None), memory=rest.pop("memory", None), storage=rest.pop("storage", None),
                        gpu=int(gpu) if gpu is not None else None, extra=tuple(sorted(rest.items())))


def _mark_outputs(step: ir.Step, uses: tuple[ir.DataSetUse, ...]) -> ir.Step:
    """The steps that finish a workflow write its data sets: the last step of a sequence, every parallel branch."""
    if isinstance(step, ir.TaskRun):
        return replace(step, publishes=step.publishes + uses)
    if isinstance(step, ir.Sequence):
        return ir.Sequence(step.steps[:-1] + (_mark_outputs(step.steps[-1], uses),)) if step.steps else step
    return ir.Parallel(tuple(_mark_outputs(b, uses) for b in step.branches))


def _unique_names(graph: ir.Step) -> ir.Step:
    """Task runs become TaskGroups whose ids must be unique in a DAG; a second `train` becomes `train_2`."""
    counts: dict[str, int] = {}

    def rename(step: ir.Step) -> ir.Step:
        if isinstance(step, ir.TaskRun):
            counts[step.name] = counts.get(step.name, 0) + 1
            n = counts[step.name]
            return step if n == 1 else replace(step, name=f"{step.name}_{n}")
        if isinstance(step, ir.Sequence):
            return ir.Sequence(tuple(rename(s) for s in step.steps))
        return ir.Parallel(tuple(rename(b) for b in step.branches))

    return rename(graph)


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, int, int, str]] = set()
    out = []
    for d in diags:
        if (d.file, d.line, d.column, d.message) not in seen:
            seen.add((d.file, d.line, d.column, d.message))
            out.append(d)
    return out


def normalise(spec: ParsedSpec, lookup: Lookup, project_names: Iterable[str],
              only_dag_id: str | None = None) -> Normalised:
    n = _Normaliser(spec, lookup, project_names)
    workflows = n.workflows(only_dag_id)
    return Normalised(workflows, spec.warnings + n.warnings, n.depends_on, n.checked_files)


def compile_file(path: str) -> list[ir.Workflow]:
    """One file on its own (no other projects): for tests and single-file tools."""
    spec = read(path)
    return normalise(spec, lambda name: None, [spec.project.name]).workflows
