"""Whatever goes wrong in one file (bad YAML, bytes that are not text, a bug of ours while reading or compiling
it), it is that file's error with its name and place; it never hides another file's DAGs. Inside an AME file, a
bad task costs only that task and what depends on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_taskspec import compile_cache, resolve
from airflow_taskspec.broken_files import BROKEN_FILES_DAG_ID
from airflow_taskspec.dialects import ame
from airflow_taskspec.dialects.diagnostics import WHOLE_FILE
from airflow_taskspec.loader import load_dags

from tests.conftest import make_dag_folder

GOOD = "name: good\ntasks:\n  - name: t\n    executor: !custom\n      command: echo good\n"
TASK = "  - name: {name}\n    executor: !custom\n      command: echo {name}\n"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))


def folder_with(tmp_path: Path, bad: str | bytes) -> Path:
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "ame.yaml").write_text(GOOD)
    (tmp_path / "bad").mkdir()
    spec = tmp_path / "bad" / "ame.yaml"
    if isinstance(bad, bytes):
        spec.write_bytes(bad)
    else:
        spec.write_text(bad)
    return spec


def first_line(c: resolve.Compilation, spec: Path) -> str:
    return c.errors[str(spec)].diagnostics[0].format().splitlines()[0]


def test_bytes_that_are_not_utf8_are_an_error_at_their_line(tmp_path: Path) -> None:
    spec = folder_with(tmp_path, b"name: bad\ntasks:\n  - name: caf\xe9\n")
    c = resolve.compile_paths([str(tmp_path)])
    assert [w.dag_id for w in c.workflows] == ["good.t"]
    assert first_line(c, spec) == f"{spec}:3:14: error: the file is not UTF-8 text (invalid continuation byte at " \
                                  "byte 30)"


@pytest.mark.parametrize("exc", [KeyError("k"), RecursionError("deep"), AssertionError("a"), TypeError("t"),
                                 MemoryError(), UnicodeEncodeError("ascii", "é", 0, 1, "no")])
def test_a_bug_of_ours_while_reading_a_file_is_that_files_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                exc: Exception) -> None:
    spec = folder_with(tmp_path, "name: bad\ntasks:\n" + TASK.format(name="t"))
    real = ame.read

    def read(path: str, text: str | None = None) -> ame.ParsedSpec:
        if path == str(spec):
            raise exc
        return real(path, text)

    monkeypatch.setattr(ame, "read", read)
    c = resolve.compile_paths([str(tmp_path)])
    assert [w.dag_id for w in c.workflows] == ["good.t"]
    assert first_line(c, spec).startswith(f"{spec}:1:1: error: taskspec failed reading this file: "
                                          f"{type(exc).__name__}")
    assert "this is a bug in taskspec" in c.errors[str(spec)].diagnostics[0].hint


def test_a_bug_of_ours_while_compiling_a_file_is_that_files_error(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    spec = folder_with(tmp_path, "name: bad\ntasks:\n" + TASK.format(name="t"))
    real = ame.normalise

    def normalise(parsed, lookup, names, only_dag_id=None):  # type: ignore[no-untyped-def]
        if parsed.project.name == "bad":
            raise ZeroDivisionError("division by zero")
        return real(parsed, lookup, names, only_dag_id)

    monkeypatch.setattr(ame, "normalise", normalise)
    c = resolve.compile_paths([str(tmp_path)])
    assert [w.dag_id for w in c.workflows] == ["good.t"]
    assert first_line(c, spec) == f"{spec}:1:1: error: taskspec failed compiling this file: ZeroDivisionError: " \
                                  "division by zero"


def test_the_loader_shows_the_good_dags_next_to_a_file_that_breaks_the_yaml_parser(tmp_path: Path) -> None:
    folder = make_dag_folder(tmp_path / "dags", {"good": GOOD, "bad": "name: bad\ntasks: &a [*a]\n"})
    dags = {d.dag_id: d for d in load_dags(str(folder), {})}
    assert sorted(dags) == ["good.t", BROKEN_FILES_DAG_ID]
    assert f"{folder / 'bad' / 'ame.yaml'}:2:8" in dags[BROKEN_FILES_DAG_ID].doc_md


# -- one bad task inside a file ------------------------------------------------------------------------------------

def compile_one(tmp_path: Path, text: str) -> tuple[resolve.Compilation, Path]:
    (tmp_path / "p").mkdir()
    spec = tmp_path / "p" / "ame.yaml"
    spec.write_text(text)
    return resolve.compile_paths([str(tmp_path)]), spec


def messages(c: resolve.Compilation, spec: Path) -> list[str]:
    return [d.format().splitlines()[0] for d in c.errors[str(spec)].diagnostics]


def test_an_invalid_task_drops_only_itself_and_what_uses_it(tmp_path: Path) -> None:
    c, spec = compile_one(tmp_path, "name: p\ntasks:\n" + TASK.format(name="first") + """\
  - name: bad
    resources:
      memory: ten gigabytes
    executor: !custom
      command: echo bad
  - name: uses_bad
    taskRef: bad
""" + TASK.format(name="last"))
    assert [w.dag_id for w in c.workflows] == ["p.first", "p.last"]
    assert messages(c, spec) == [
        (f"{spec}:8:7: error: resource 'memory': 'ten gigabytes' is not a Kubernetes quantity; write a number with "
         "an optional unit: m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei (for example 500m, 4, 10G, 8Gi)"),
        f"{spec}:12:14: error: task 'bad', used here, has errors (line 8), so this cannot be compiled either",
    ]


def test_a_task_that_fails_to_compile_drops_only_itself(tmp_path: Path) -> None:
    c, spec = compile_one(tmp_path, "name: p\ntasks:\n" + TASK.format(name="first") + """\
  - name: no_command
    executor: !custom
      pythonVersion: "3.11"
""")
    assert [w.dag_id for w in c.workflows] == ["p.first"]
    assert messages(c, spec) == [f"{spec}:7:5: error: the `!custom` executor of task 'no_command' needs a `command`"]


def test_a_broken_template_or_model_costs_only_its_users(tmp_path: Path) -> None:
    c, spec = compile_one(tmp_path, """\
name: p
templates:
  - name: base
    executor: !peotry
      command: x
tasks:
  - name: templated
    fromTemplate: base
""" + TASK.format(name="plain") + """\
models:
  - name: m
    training:
      task: {name: train, executor: {}}
""")
    assert [w.dag_id for w in c.workflows] == ["p.plain"]
    text = "\n".join(messages(c, spec))
    assert f"{spec}:4:15: error: unknown executor tag '!peotry'" in text
    assert f"{spec}:8:19: error: template 'p.base', used here, has errors (line 4), so this cannot be compiled" in text
    assert f"{spec}:15:37: error: the executor has no executor tag" in text


def test_an_error_that_stops_the_whole_file_says_so(tmp_path: Path) -> None:
    c, spec = compile_one(tmp_path, "name: [p]\ntasks:\n" + TASK.format(name="t"))
    assert c.workflows == []
    (error,) = c.errors[str(spec)].diagnostics
    assert error.format().splitlines()[0] == f"{spec}:1:7: error: 'name' must be a string, not a list"
    assert error.hint.endswith(WHOLE_FILE)
