"""PEACH's task files (`peach.yaml`, `peach.conf/*.yaml`) as pydantic models, both generations.

Legacy: a root ``dependencies`` list for every task and endpoint of the organisation, ``tasks.dependencies`` (a
reserved key inside ``tasks``: a list of requirements, not a task) and a task's own ``dependencies``. Current:
``py_environments: {name: {dependencies: [...]}}``, where ``base`` is inherited by every environment and used
by a task that names none, and a task's ``py_env``. With ``py_environments`` the legacy keys are errors, as
PEACH itself rejects them.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...errors import did_you_mean, one_of
from .names import METADATA

EXECUTORS = ("python",)
LOOPS = ("metadata",)
RESERVED_TASK_KEY = "dependencies"
"""Inside ``tasks:``, ``dependencies`` is a list of requirements of the legacy generation, not a task."""
BASE_ENVIRONMENT = "base"

_CODOPS = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _executor(value: str) -> str:
    if value not in EXECUTORS:
        hint = did_you_mean(value, EXECUTORS)
        raise ValueError(f"unknown executor '{value}'; accepted: {one_of(EXECUTORS)}" + (f" ({hint})" if hint else ""))
    return value


def _notebook(value: str) -> str:
    if "\0" in value:
        raise ValueError(f"notebook '{value}' holds a NUL character, which no file name can hold")
    if value.startswith("/") or ".." in value.replace("\\", "/").split("/"):
        raise ValueError(f"notebook '{value}' must be a path inside the project folder, relative to it")
    if not value.endswith(".ipynb"):
        raise ValueError(f"notebook '{value}' is not a .ipynb file")
    return value


class _Callable(_Model):
    """What a task and an endpoint both are: a method of a notebook, run in a Python environment."""

    notebook: str
    method: str
    executor: str = "python"
    full_notebook: bool = False
    dependencies: list[str] | None = None  # legacy generation
    py_env: str | None = None  # current generation

    @field_validator("executor")
    @classmethod
    def _check_executor(cls, value: str) -> str:
        return _executor(value)

    @field_validator("notebook")
    @classmethod
    def _check_notebook(cls, value: str) -> str:
        return _notebook(value)

    @field_validator("method")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError(f"method '{value}' is not a Python function name")
        return value


class Task(_Callable):
    args: dict[str, Any] = Field(default_factory=dict)
    loop: str | None = None

    @field_validator("loop")
    @classmethod
    def _known_loop(cls, value: str | None) -> str | None:
        if value is not None and value not in LOOPS:
            hint = did_you_mean(value, LOOPS)
            raise ValueError(f"unknown loop '{value}'; leave `loop` out for the organisation's loop, or write "
                             f"`loop: metadata`" + (f" ({hint})" if hint else ""))
        return value


class Endpoint(_Callable):
    """PEACH's recommendation API entry points: checked like tasks, then skipped (they are served, not run)."""


class PyEnvironment(_Model):
    dependencies: list[str] = Field(default_factory=list)


class PeachFile(_Model):
    """One file, with ``tasks.dependencies`` (the reserved key) taken out of ``tasks`` before validation."""

    codops: str
    tasks: dict[str, Task] = Field(default_factory=dict)
    dependencies: list[str] | None = None  # legacy generation
    endpoints: dict[str, Endpoint] = Field(default_factory=dict)
    py_environments: dict[str, PyEnvironment] | None = None

    @field_validator("codops")
    @classmethod
    def _codops(cls, value: str) -> str:
        if value == METADATA:
            raise ValueError("codops 'metadata' is reserved for the shared metadata loop (DAG peach.metadata)")
        if not _CODOPS.match(value):
            raise ValueError(f"codops '{value}' must be lower-case letters, digits, '-' or '_' (e.g. `debr`)")
        return value


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))
