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


PEACH = "codops: debr\ntasks:\n  rank:\n    notebook: nb.ipynb\n    method: rank\n  meta:\n    notebook: nb.ipynb\n" \
        "    method: rank\n    loop: metadata\n"


def peach_folder(tmp_path: Path) -> Path:
    from tests.notebooks import write_notebook

    (tmp_path / "dags" / "org").mkdir(parents=True)
    (tmp_path / "dags" / "org" / "peach.yaml").write_text(PEACH)
    write_notebook(tmp_path / "dags" / "org" / "nb.ipynb", ["def rank():\n    return 1\n"])
    return tmp_path / "dags"


def timeouts(folder: Path) -> dict[str, set[int | None]]:
    from airflow_taskspec import ir

    return {w.dag_id: {r.timeout_seconds for r in ir.task_runs(w.graph)}
            for w in resolve.compile_paths([str(folder)]).workflows}


class Normalisations:
    """Counts the groups the PEACH dialect normalises (a cache hit normalises none)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from airflow_taskspec.dialects import REGISTRY

        self.count = 0
        dialect = REGISTRY["peach"]
        real = dialect.normalise

        def counted(*args: object, **kwargs: object) -> object:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(dialect, "normalise", counted)


def test_a_changed_option_the_compile_reads_recompiles_without_touching_the_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT", "3600")
    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_METADATA_TIMEOUT", "300")
    folder = peach_folder(tmp_path)
    normalised = Normalisations(monkeypatch)
    assert timeouts(folder) == {"peach.debr": {3600}, "peach.metadata": {300}}
    assert normalised.count == 2  # the organisation's group and the metadata loop's

    assert timeouts(folder) == {"peach.debr": {3600}, "peach.metadata": {300}}
    assert normalised.count == 2  # nothing changed: both from the cache

    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT", "60")
    assert timeouts(folder) == {"peach.debr": {60}, "peach.metadata": {300}}
    assert normalised.count == 3  # only the group that read the option

    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_METADATA_TIMEOUT", "30")
    assert timeouts(folder) == {"peach.debr": {60}, "peach.metadata": {30}}
    assert normalised.count == 4

    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT", "3600")
    assert timeouts(folder) == {"peach.debr": {3600}, "peach.metadata": {30}}
    assert timeouts(folder) == {"peach.debr": {3600}, "peach.metadata": {30}}
    assert normalised.count == 5


def test_an_option_the_compile_does_not_read_keeps_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path / "cache"))
    folder = peach_folder(tmp_path)
    normalised = Normalisations(monkeypatch)
    timeouts(folder)
    monkeypatch.setenv("AIRFLOW__TASKSPEC__DEFAULT_CPU_LIMIT", "3")  # read when building, not when compiling
    monkeypatch.setenv("AIRFLOW__TASKSPEC__NAMESPACE", "other")
    timeouts(folder)
    assert normalised.count == 2


def test_the_options_read_are_recorded_with_their_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_taskspec import config

    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT", "7")
    config.get("namespace")  # outside: not recorded
    with config.recording() as reads:
        assert config.whole_number("peach_task_timeout") == 7
    assert reads == {"peach_task_timeout": "7"}
    assert config.unchanged(reads)
    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT", "8")
    assert not config.unchanged(reads)


def test_a_bad_option_the_compile_reads_is_a_configuration_error_until_it_is_fixed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path / "cache"))
    folder = peach_folder(tmp_path)
    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT", "soon")
    c = resolve.compile_paths([str(folder)])
    spec = str(folder / "org" / "peach.yaml")
    (error,) = c.errors[spec].diagnostics
    assert error.message == ("cannot compile this file with the configuration: [taskspec] peach_task_timeout = "
                             "'soon' is not a whole number; set it in airflow.cfg [taskspec] or with "
                             "AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT")
    assert "bug" not in error.hint
    assert [w.dag_id for w in c.workflows] == ["peach.metadata"]  # the loop that does not read it still builds
    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT", "90")
    assert timeouts(folder) == {"peach.debr": {90}, "peach.metadata": {300}}


def test_options_read_when_building_take_effect_with_the_compile_cache_warm(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_taskspec import config, render
    from airflow_taskspec.dialects import REGISTRY

    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("AIRFLOW__TASKSPEC__ARTIFACT_STORE", "s3://bucket/store")
    folder = dag_folder(tmp_path)

    def run_pod() -> dict[str, object]:
        (workflow,) = resolve.compile_paths([str(folder)]).workflows
        (step,) = render.step_manifests(workflow, config.settings())
        return step["run"]["spec"]  # type: ignore[no-any-return]

    first = run_pod()
    normalised = []
    real = REGISTRY["ame"].normalise
    monkeypatch.setattr(REGISTRY["ame"], "normalise", lambda *a, **k: normalised.append(a) or real(*a, **k))
    monkeypatch.setenv("AIRFLOW__TASKSPEC__RUN_AS_USER", "4242")
    monkeypatch.setenv("AIRFLOW__TASKSPEC__DEFAULT_CPU_LIMIT", "3")
    second = run_pod()
    assert normalised == []  # the compiled workflow came from the cache
    assert first["securityContext"]["runAsUser"] == 1000  # type: ignore[index]
    assert second["securityContext"]["runAsUser"] == 4242  # type: ignore[index]
    assert second["containers"][0]["resources"]["limits"]["cpu"] == "3"  # type: ignore[index]


class OptionReader:
    """A dialect whose *reading* consults an option (`opt.txt`: the option's value becomes the DAG's title)."""

    name = "opt"

    def __init__(self) -> None:
        from airflow_taskspec.dialects import FilePattern

        self.patterns = (FilePattern(("opt.txt",)),)
        self.reads = 0

    def read(self, path: str, text: str) -> tuple[str, str]:
        from airflow_taskspec import config

        self.reads += 1
        return path, config.get("default_python_version")

    def group_keys(self, parsed: tuple[str, str]) -> tuple[str, ...]:
        return ("opt",)

    def groups_of_dag_id(self, dag_id: str) -> tuple[str, ...]:
        return ("opt",)

    def normalise(self, group, lookup, only_dag_id=None):  # type: ignore[no-untyped-def]
        from airflow_taskspec import ir
        from airflow_taskspec.dialects import Normalised

        path, value = group.files[0].parsed
        run = ir.TaskRun(name="t", recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, "true"),
                         source=ir.ProjectSource(folder=os.path.dirname(path)), origin=ir.Origin(path, 1, 1))
        return Normalised([ir.Workflow("opt.t", value, ir.Origin(path, 1, 1), "", run)])

    def json_schema(self) -> dict[str, object]:
        return {}


def test_an_option_read_while_reading_a_file_rereads_it_when_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_taskspec import dialects

    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path / "cache"))
    dialect = OptionReader()
    monkeypatch.setitem(dialects.REGISTRY, dialect.name, dialect)
    (tmp_path / "dags" / "x").mkdir(parents=True)
    (tmp_path / "dags" / "x" / "opt.txt").write_text("anything\n")

    def titles() -> list[str]:
        return [w.title for w in resolve.compile_paths([str(tmp_path / "dags")]).workflows]

    monkeypatch.setenv("AIRFLOW__TASKSPEC__DEFAULT_PYTHON_VERSION", "3.11")
    assert titles() == ["3.11"]
    assert titles() == ["3.11"]
    assert dialect.reads == 1  # the second compile read nothing
    monkeypatch.setenv("AIRFLOW__TASKSPEC__DEFAULT_PYTHON_VERSION", "3.12")
    assert titles() == ["3.12"]
    assert dialect.reads == 2
