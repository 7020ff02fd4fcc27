"""The compile cache is unpickled, so it must be the current user's: under the Airflow home, mode 0700, and a
folder or entry of another user's is never read. Its key covers the whole package source."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest
from airflow_taskspec import compile_cache, resolve

SPEC = "name: p\ntasks:\n  - name: t\n    executor: !custom\n      command: echo {}\n"
NOBODY = 65534


class Planted:
    """A pickle that, when loaded, creates ``marker``: what an attacker's cache entry would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def dag_folder(tmp_path: Path, command: str = "one") -> Path:
    (tmp_path / "dags" / "p").mkdir(parents=True, exist_ok=True)
    (tmp_path / "dags" / "p" / "ame.yaml").write_text(SPEC.format(command))
    return tmp_path / "dags"


def commands(folder: Path) -> list[str]:
    return [w.graph.recipe.command for w in resolve.compile_paths([str(folder)]).workflows]


def test_the_cache_lives_under_the_airflow_home_with_mode_0700(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(compile_cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    assert commands(dag_folder(tmp_path)) == ["echo one"]
    cache = tmp_path / "home" / "taskspec" / "cache"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert any(p.name.startswith("ame-") and p.name.endswith(".entry.pickle") for p in cache.iterdir())


def test_a_loose_cache_folder_of_ours_is_made_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    os.chmod(cache, 0o777)
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(cache))
    commands(dag_folder(tmp_path))
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700


def test_an_entry_another_user_owns_is_never_unpickled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(cache))
    folder = dag_folder(tmp_path)
    commands(folder)
    marker = tmp_path / "planted-code-ran"
    entries = [p for p in cache.iterdir() if p.name.endswith(".pickle")]
    assert entries
    for entry in entries:  # replaced by another user (the folder is ours, but say it was not always private)
        entry.write_bytes(pickle.dumps(Planted(marker)))
        os.chown(entry, NOBODY, NOBODY)
    assert commands(folder) == ["echo one"]
    assert not marker.exists()


def test_a_cache_folder_another_user_owns_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(cache))
    folder = dag_folder(tmp_path)
    commands(folder)
    marker = tmp_path / "planted-code-ran"
    for entry in cache.iterdir():
        entry.write_bytes(pickle.dumps(Planted(marker)))
    os.chown(cache, NOBODY, NOBODY)
    before = sorted(p.name for p in cache.iterdir())
    (folder / "p" / "ame.yaml").write_text(SPEC.format("two"))
    assert commands(folder) == ["echo two"]
    assert not marker.exists()
    assert sorted(p.name for p in cache.iterdir()) == before  # nothing written there either


def test_the_key_covers_every_file_of_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "airflow_taskspec"
    (package / "dialects" / "newformat").mkdir(parents=True)
    (package / "resolve.py").write_text("# resolve\n")
    module = package / "dialects" / "newformat" / "normalise.py"
    module.write_text("VERSION = 1\n")
    monkeypatch.setattr(compile_cache, "_PACKAGE", package)
    monkeypatch.setattr(compile_cache, "_code_version", None)
    first = compile_cache.file_digest("ame", "ame.yaml", b"same")
    module.write_text("VERSION = 2\n")
    monkeypatch.setattr(compile_cache, "_code_version", None)
    assert compile_cache.file_digest("ame", "ame.yaml", b"same") != first
    assert compile_cache.file_digest("peach", "ame.yaml", b"same") != compile_cache.file_digest("ame", "ame.yaml",
                                                                                               b"same")
