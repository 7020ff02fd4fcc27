"""Executor recipes: what each executor kind runs, and that a missing file or tool fails clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_taskspec import recipes
from airflow_taskspec.ir import ExecutorKind, Recipe


def _run(script: str, cwd: Path, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], check=False, cwd=cwd, capture_output=True, text=True,
                          env={"PATH": path})


def test_every_script_fails_fast_and_ends_with_the_command() -> None:
    for kind in ExecutorKind:
        script = recipes.script(Recipe(kind, "python main.py --x 1"), python_version="3.11")
        assert script.startswith("set -euo pipefail\n")
        assert script.endswith("python main.py --x 1\n")


@pytest.mark.parametrize("kind, missing", [
    (ExecutorKind.PIP, "requirements.txt"),
    (ExecutorKind.POETRY, "poetry"),
    (ExecutorKind.PIPENV, "pipenv"),
    (ExecutorKind.MLFLOW, "mlflow"),
])
def test_a_missing_file_or_tool_is_named(tmp_path: Path, kind: ExecutorKind, missing: str) -> None:
    result = _run(recipes.script(Recipe(kind, "true"), python_version="3.11"), tmp_path)
    assert result.returncode != 0
    assert missing in result.stderr and f"!{kind.value if kind is not ExecutorKind.PIPENV else 'pipEnv'}" in result.stderr


def test_custom_runs_the_command_as_written(tmp_path: Path) -> None:
    result = _run(recipes.script(Recipe(ExecutorKind.CUSTOM, "echo one && echo two; exit 4"), python_version="3.11"),
                  tmp_path)
    assert (result.stdout, result.returncode) == ("one\ntwo\n", 4)


def test_pod_pip_recipe_builds_its_environment_in_the_workspace() -> None:
    script = recipes.script(Recipe(ExecutorKind.PIP, "python x.py"), python_version="3.10")
    assert "uv venv --quiet --python 3.10 .venv" in script and "$TASKSPEC_UV" not in script
    cached = recipes.script(Recipe(ExecutorKind.PIP, "python x.py"), python_version="3.10", env_cache_dir="/c")
    assert "pip-py3.10-$(sha256sum requirements.txt" in cached and "--relocatable" in cached


def test_the_local_pip_environment_is_keyed_by_the_content_of_requirements_txt(tmp_path: Path) -> None:
    uv = str(Path(sys.executable).parent / "uv")
    script = recipes.script(Recipe(ExecutorKind.PIP, 'python -c "import sys; print(sys.prefix)"'),
                            python_version=f"{sys.version_info[0]}.{sys.version_info[1]}",
                            env_cache_dir=str(tmp_path / "envs"))
    work = tmp_path / "w"
    work.mkdir()

    def run_with(requirements: str) -> list[str]:
        (work / "requirements.txt").write_text(requirements)
        done = subprocess.run(["bash", "-c", script], check=False, cwd=work, capture_output=True, text=True,
                              env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TASKSPEC_UV": uv})
        assert done.returncode == 0, done.stderr
        return done.stdout.split("\n")[:2]

    first, again, changed = run_with("# one\n"), run_with("# one\n"), run_with("# two\n")
    assert first[0].startswith("taskspec: creating") and again[0].startswith("taskspec: reusing")
    assert again[1] == first[1]  # the same environment for the same content
    assert changed[0].startswith("taskspec: creating") and changed[1] != first[1]  # another for other content
