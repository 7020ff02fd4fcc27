"""What both backends do alike for a notebook-entry TaskRun (``ir.NotebookRecipe``, PEACH), on the worker.

The run phase of a step asks this module for the program to run (cells picked from the notebook as the
workspace holds it, arguments from the run's params, the notebook's version from the project folder), and
then runs it: locally in the environment built by ``runtime.environments`` (``local_python``), in a pod with
the script of ``recipes.notebook_script`` (``pod_script``; the image from ``[taskspec] peach_images`` when one
is configured for the environment, ``pod_image``). What the task returns to XCom is ``result_for_xcom``.
No Airflow import: the operators pass the context's values in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .. import recipes
from ..config import Settings
from ..runtime import environments, notebook


class _Environment(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def requirements(self) -> tuple[str, ...]: ...


class _Argument(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def param(self) -> str: ...


class NotebookEntry(Protocol):
    """The fields of ``ir.NotebookRecipe`` used here (read-only: the IR is frozen)."""

    @property
    def notebook(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def full_notebook(self) -> bool: ...
    @property
    def environment(self) -> _Environment: ...
    @property
    def arguments(self) -> tuple[_Argument, ...]: ...
    @property
    def python_version(self) -> str | None: ...


def arguments(recipe: NotebookEntry, params: Mapping[str, Any]) -> dict[str, Any]:
    """The method's keyword arguments: each from its param, so the trigger form and ``--conf`` override the
    YAML value for one run."""
    missing = [a.param for a in recipe.arguments if a.param not in params]
    if missing:
        raise KeyError(f"the run has no params {', '.join(missing)}; is the DAG older than its task file?")
    return {a.name: params[a.param] for a in recipe.arguments}


def program(recipe: NotebookEntry, *, project_folder: str, workspace: str, params: Mapping[str, Any]
            ) -> notebook.Program:
    """The cells and arguments of this execution; the version is the project's (the workspace has no .git)."""
    return notebook.program(
        os.path.join(workspace, recipe.notebook), name=recipe.notebook, method=recipe.method,
        full_notebook=recipe.full_notebook, args=arguments(recipe, params),
        version=notebook.version(os.path.join(project_folder, recipe.notebook)),
    )


def python_version(recipe: NotebookEntry, settings: Settings) -> str:
    return recipe.python_version or settings.default_python_version


def local_python(recipe: NotebookEntry, settings: Settings, *, uv: str, log: Callable[[str], Any]) -> str:
    """The interpreter of the recipe's environment on this worker, built on first use and reused after."""
    ready = environments.ensure(recipe.environment.requirements, cache_dir=settings.env_cache_dir,
                                python_version=python_version(recipe, settings), uv=uv,
                                name=recipe.environment.name, log=log)
    return ready.python


def pod_image(recipe: NotebookEntry, settings: Settings) -> str | None:
    """An image configured to hold this environment already; None: the executor image installs it."""
    return settings.peach_images.get(recipe.environment.name)


def pod_script(recipe: NotebookEntry, prog: notebook.Program, settings: Settings) -> str:
    return recipes.notebook_script(prog.to_json(), requirements=recipe.environment.requirements,
                                   python_version=python_version(recipe, settings),
                                   prebuilt=pod_image(recipe, settings) is not None)


VERSION_XCOM_KEY = "notebook_version"
"""XCom key of the notebook version an execution ran (PEACH's task-info view showed it per execution)."""


def result_for_xcom(prog: notebook.Program, result: Any) -> dict[str, Any]:
    """XCom values of one execution: ``return_value`` (the method's JSON result) and the version."""
    return {"return_value": result, VERSION_XCOM_KEY: prog.version}
