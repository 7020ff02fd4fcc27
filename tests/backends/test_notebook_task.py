"""backends.notebook_task: arguments from params, the program from the workspace with the project's version,
the local environment, the pod script and image per environment."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_taskspec import config, recipes
from airflow_taskspec.backends import notebook_task
from airflow_taskspec.backends.local import _uv_binary

from tests.notebooks import write_notebook


@dataclasses.dataclass(frozen=True)
class Env:
    name: str
    requirements: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Arg:
    name: str
    param: str


@dataclasses.dataclass(frozen=True)
class Recipe:  # the fields of ir.NotebookRecipe (branch dialects)
    notebook: str
    method: str
    environment: Env
    full_notebook: bool = False
    arguments: tuple[Arg, ...] = ()
    python_version: str | None = None


RECIPE = Recipe("nb/a.ipynb", "task", Env("debr"), arguments=(Arg("top", "rank.top"), Arg("w", "rank.w")))


def _settings(tmp_path: Path, **changes: object) -> config.Settings:
    return dataclasses.replace(config.settings(), env_cache_dir=str(tmp_path / "envs"), **changes)


def test_arguments_come_from_the_runs_params() -> None:
    params = {"rank.top": 5, "rank.w": {"storm": [1, 2]}, "other.x": 1}
    assert notebook_task.arguments(RECIPE, params) == {"top": 5, "w": {"storm": [1, 2]}}
    with pytest.raises(KeyError, match="the run has no params rank.w"):
        notebook_task.arguments(RECIPE, {"rank.top": 1})


def test_the_program_reads_the_workspace_and_takes_the_version_from_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "nb" / "a.ipynb", ["def task(top, w):\n    return top\n"])
    subprocess.run(["git", "-C", str(project), "init", "-q"], check=True)
    subprocess.run(["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t", "add", "."], check=True)
    subprocess.run(["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   check=True)
    commit = subprocess.run(["git", "-C", str(project), "rev-parse", "--short", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    workspace = tmp_path / "ws"
    shutil.copytree(project, workspace, ignore=shutil.ignore_patterns(".git"))
    write_notebook(workspace / "nb" / "a.ipynb", ["def task(top, w):\n    return top * 2\n"])  # staged copy
    prog = notebook_task.program(RECIPE, project_folder=str(project), workspace=str(workspace),
                                 params={"rank.top": 2, "rank.w": None})
    assert prog.version == commit
    assert prog.cells[0].source == "def task(top, w):\n    return top * 2\n"
    assert prog.args == {"top": 2, "w": None}
    assert notebook_task.result_for_xcom(prog, 4) == {"return_value": 4, "notebook_version": commit}


def test_the_local_environment_is_built_once_per_environment(tmp_path: Path) -> None:
    lines: list[str] = []
    settings = _settings(tmp_path)
    first = notebook_task.local_python(RECIPE, settings, uv=_uv_binary(), log=lines.append)
    again = notebook_task.local_python(RECIPE, settings, uv=_uv_binary(), log=lines.append)
    assert first == again and Path(first).exists()
    assert "peach-debr-py3.11-" in first
    assert lines[-1].startswith("taskspec: reusing the Python environment")
    assert subprocess.run([first, "-c", "import sys; print(sys.prefix != sys.base_prefix)"], check=True,
                          capture_output=True, text=True).stdout.strip() == "True"
    assert first != sys.executable


def test_the_pod_installs_the_environment_unless_an_image_holds_it(tmp_path: Path) -> None:
    recipe = dataclasses.replace(RECIPE, environment=Env("debr.science", ("numpy==2.0.0",)))
    prog = notebook_task.notebook.Program(notebook="nb/a.ipynb", method="task", cells=())
    plain = _settings(tmp_path)
    assert notebook_task.pod_image(recipe, plain) is None
    script = notebook_task.pod_script(recipe, prog, plain)
    assert "uv venv --quiet --python 3.11 .taskspec/venv" in script
    assert "numpy==2.0.0\nTASKSPEC_REQUIREMENTS" in script
    imaged = _settings(tmp_path, peach_images={"debr.science": "registry.example/debr-science:1"})
    assert notebook_task.pod_image(recipe, imaged) == "registry.example/debr-science:1"
    prebuilt = notebook_task.pod_script(recipe, prog, imaged)
    assert "uv " not in prebuilt and 'py="$(command -v python3)"' in prebuilt
    assert recipes.RESULT_MARKER in prebuilt
