"""The AME file format as pydantic models: what each key accepts, with errors that say how to write it.

AME's documentation and AME's real parser disagree in places; both forms are accepted (``name``/``project``,
``!ame`` secrets and ``ame:`` secrets, ``environment``/``env``, ``artifacts``/``artifactCfg``, ``taskRef``/
``taskref``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from ... import ir
from ...errors import closest, did_you_mean
from .. import env, paths, resources
from ..diagnostics import ValueAt, name_problem
from ..schedules import validate_schedule
from ..yaml import TAG_KEY

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

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_PYTHON_VERSION = re.compile(r"^3(\.\d+){0,2}$")


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
        if isinstance(data, str):  # `executor: pip`, the tag without its `!` (pydantic shows only ValueError)
            known = data if data in EXECUTOR_TAGS else closest(data, EXECUTOR_TAGS)
            example = f"`executor: !{known}`" if known else "`executor: !poetry`"
            raise ValueError(  # noqa: TRY004
                f"the executor is the text '{data}', but an executor is a tag written with `!`: "
                f"write {example} and its fields (`command: ...`) indented on the lines below. "
                f"Tags: {', '.join(DOCUMENTED_TAGS)}")
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
            suggestion = did_you_mean(f"!{value}", [f"!{tag}" for tag in EXECUTOR_TAGS])
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
    val: str

    @model_validator(mode="before")
    @classmethod
    def _has_value(cls, data: Any) -> Any:
        if isinstance(data, dict) and "key" in data and "val" not in data:
            if "value" in data:
                raise ValueAt(("value",), f"environment variable '{data['key']}': the value's key is `val:`, "
                              "not `value:` (older AME files)", key=True)
            raise ValueError(f"environment variable '{data['key']}' has no value; add `val: ...` below `key:` "
                             "(write `val: \"\"` for an empty value)")
        return data

    @field_validator("key")
    @classmethod
    def _env_name(cls, value: str) -> str:
        return env.check_name(value)


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


class Artifacts(_Model):
    paths: list[str] = Field(default_factory=list)
    saveChangedFiles: bool = False

    @field_validator("paths")
    @classmethod
    def _inside(cls, value: list[str]) -> list[str]:
        for i, path in enumerate(value):
            try:
                paths.check_inside("artifact path", path)
            except ValueError as exc:
                raise ValueAt((i,), str(exc)) from None
        return value


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
        return env.check_name(value)

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


_INPUT_TYPES = ("integer", "number", "string", "boolean", "enumeration", "file", "array")
_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TaskInput(_Model):
    """An entry of a task's `inputs:` (taskspec's extension of the AME format, after Cytomine App Engine and
    TES): a typed parameter (`type:`), a URL's file or folder (`url:` + `path:`), or inline `content:` + `path:`."""

    name: str
    type: Literal["integer", "number", "string", "boolean", "enumeration", "file", "array"] | None = None
    description: str = ""
    default: str | list[str] | None = None
    required: bool = False
    minimum: str | None = None
    maximum: str | None = None
    values: list[str] | None = None
    pattern: str | None = None
    items: Literal["integer", "number", "string", "boolean"] | None = None
    url: str | None = None
    path: str | None = None
    content: str | None = None

    @field_validator("name")
    @classmethod
    def _env_safe(cls, value: str) -> str:
        if not _INPUT_NAME.match(value):
            raise ValueError(f"input name '{value}' may only contain letters, digits and '_' (it names a file "
                             "under inputs/ and the variable INPUT_<NAME>), and may not start with a digit")
        return value

    @field_validator("values")
    @classmethod
    def _each_value_once(cls, value: list[str] | None) -> list[str] | None:
        first: dict[str, int] = {}
        for i, choice in enumerate(value or []):
            if choice in first:
                raise ValueAt((i,), f"the choice '{choice}' is listed twice (first as entry {first[choice] + 1}); "
                                    "the trigger form would offer it twice")
            first[choice] = i
        return value

    @field_validator("path")
    @classmethod
    def _path_inside(cls, value: str | None) -> str | None:
        return None if value is None else paths.check_inside("input path", value)

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        return None if value is None else paths.check_url("input url", value)

    @model_validator(mode="after")
    def _one_kind(self) -> TaskInput:
        kinds = [k for k, v in (("type", self.type), ("url", self.url), ("content", self.content)) if v is not None]
        if len(kinds) != 1:
            raise ValueError(f"input '{self.name}' needs exactly one of `type:` (a parameter set at trigger time), "
                             f"`url:` (a file or folder to fetch) or `content:` (inline text); it has "
                             f"{' and '.join(kinds) or 'none'}")
        if self.type is None and not self.path:
            raise ValueError(f"input '{self.name}' needs `path:`, where it goes in the workspace")
        if self.type is not None and self.path:
            raise ValueError(f"the parameter input '{self.name}' is always staged at inputs/{self.name}; "
                             "remove `path:`")
        return self


class TaskOutput(_Model):
    """An entry of a task's `outputs:`: a file, folder or glob in the workspace, optionally copied to a URL."""

    path: str
    url: str | None = None

    @field_validator("path")
    @classmethod
    def _path_inside(cls, value: str) -> str:
        return paths.check_inside("output path", value)

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        return None if value is None else paths.check_url("output url", value)


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
    inputs: list[TaskInput] | None = None
    outputs: list[TaskOutput] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for a, b in (("environment", "env"), ("artifacts", "artifactCfg"), ("taskRef", "taskref")):
                if a in data and b in data:
                    raise ValueError(f"`{a}` and `{b}` are two spellings of one key; keep one of them")
        return data

    @field_validator("pipeline")
    @classmethod
    def _not_empty(cls, value: list[list[Task] | Task] | None) -> list[list[Task] | Task] | None:
        if value is not None and not value:
            raise ValueError("the pipeline has no steps; list its steps below `pipeline:`, each starting with `- `")
        for i, step in enumerate(value or []):
            if isinstance(step, list) and not step:
                raise ValueAt((i,), "this parallel group of the pipeline is empty; list the steps that run at "
                              "the same time inside it, or remove the `[]`")
        return value

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            resources.check_resources(value)
        return value

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"task name '{value}' may only contain ASCII letters (a-z, A-Z), digits, '-' "
                             f"and '_': {name_problem(value)}")
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

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        return paths.check_inside("data set path", value)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        return Task._plain_name(value) or value

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None:
            resources.check_quantity("data set size", value)
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
            raise ValueError(f"project name '{value}' may only contain ASCII letters (a-z, A-Z), digits, '-' "
                             f"and '_' (it becomes the first part of every DAG id): {name_problem(value)}")
        return value

