"""Helpers for dialect tests: write small AME projects into a temporary DAG folder and compile them."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from airflow_taskspec import compile_cache

PROJECT_FILES = ("requirements.txt", "pyproject.toml", "poetry.lock", "Pipfile", "Pipfile.lock", "MLproject")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test gets its own compile cache so results never leak between tests.
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def write_project(tmp_path: Path) -> Callable[..., Path]:
    def write(folder: str, yaml_text: str, files: tuple[str, ...] = PROJECT_FILES, name: str = "ame.yaml") -> Path:
        project = tmp_path / folder
        project.mkdir(parents=True, exist_ok=True)
        for f in files:
            (project / f).write_text("# placeholder\n")
        spec = project / name
        spec.write_text(textwrap.dedent(yaml_text).lstrip("\n"))
        return spec

    return write


@pytest.fixture
def dag_folder(tmp_path: Path) -> Path:
    return tmp_path
