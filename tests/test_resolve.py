"""Cross-file work: the content-hash cache, compiling one DAG, clashes between projects, the JSON Schema."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from airflow_taskspec import compile_cache, resolve, schema
from airflow_taskspec.dialects import ame

TASK = "    executor: !custom\n      command: {command}\n"


def write(folder: Path, name: str, text: str) -> Path:
    (folder / name).mkdir(parents=True, exist_ok=True)
    spec = folder / name / "ame.yaml"
    spec.write_text(textwrap.dedent(text).lstrip("\n"))
    return spec


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(folder))
    return folder


def forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed although cached")
    monkeypatch.setattr(ame, "read", fail)
    monkeypatch.setattr(ame, "normalise", fail)


def test_a_second_compilation_comes_from_the_cache(tmp_path, monkeypatch, cache_dir):
    write(tmp_path, "p", "name: p\ntasks:\n  - name: t\n" + TASK.format(command="one"))
    first = resolve.compile_paths([str(tmp_path)])
    assert list(cache_dir.glob("ame-*.pickle"))
    forbid_parsing(monkeypatch)
    assert resolve.compile_paths([str(tmp_path)]).workflows == first.workflows


def test_a_changed_file_is_compiled_again(tmp_path):
    spec = write(tmp_path, "p", "name: p\ntasks:\n  - name: t\n" + TASK.format(command="one"))
    resolve.compile_paths([str(tmp_path)])
    spec.write_text(spec.read_text().replace("one", "two"))
    (wf,) = resolve.compile_paths([str(tmp_path)]).workflows
    assert wf.graph.recipe.command == "two"


def test_a_changed_template_in_another_project_invalidates_its_users(tmp_path):
    shared = write(tmp_path, "shared", "name: shared\ntemplates:\n  - name: base\n" + TASK.format(command="v1"))
    write(tmp_path, "main", "name: main\ntasks:\n  - name: t\n    fromTemplate: shared.base\n")
    assert resolve.compile_paths([str(tmp_path)]).workflows[0].graph.recipe.command == "v1"
    shared.write_text(shared.read_text().replace("v1", "v2"))
    assert resolve.compile_paths([str(tmp_path)]).workflows[0].graph.recipe.command == "v2"


def test_a_removed_project_file_invalidates_the_cache(tmp_path):
    write(tmp_path, "p", "name: p\ntasks:\n  - name: t\n    executor: !pip\n      command: x\n")
    requirements = tmp_path / "p" / "requirements.txt"
    requirements.write_text("")
    assert len(resolve.compile_paths([str(tmp_path)]).workflows) == 1
    requirements.unlink()
    c = resolve.compile_paths([str(tmp_path)])
    assert c.workflows == [] and "needs requirements.txt" in str(next(iter(c.errors.values())))


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv(compile_cache.CACHE_ENV, "off")
    write(tmp_path, "p", "name: p\ntasks:\n  - name: t\n" + TASK.format(command="x"))
    assert len(resolve.compile_paths([str(tmp_path)]).workflows) == 1
    assert list(cache_dir.iterdir()) == []


def test_only_dag_id_compiles_one_dag_but_still_sees_other_projects(tmp_path, monkeypatch):
    write(tmp_path, "shared", "name: shared\ntemplates:\n  - name: base\n" + TASK.format(command="v1"))
    write(tmp_path, "main", "name: main\ntasks:\n  - name: a\n    fromTemplate: shared.base\n"
                            "  - name: b\n" + TASK.format(command="b"))
    monkeypatch.setenv(compile_cache.CACHE_ENV, "off")
    seen: list[str | None] = []
    real = ame.normalise

    def spy(spec, lookup, names, only_dag_id=None):
        seen.append(spec.project.name)
        return real(spec, lookup, names, only_dag_id)

    monkeypatch.setattr(ame, "normalise", spy)
    c = resolve.compile_paths([str(tmp_path)], only_dag_id="main.a")
    assert [w.dag_id for w in c.workflows] == ["main.a"]
    assert c.workflows[0].graph.recipe.command == "v1"
    assert seen == ["main"]


def test_two_files_with_one_project_name(tmp_path):
    write(tmp_path, "a", "name: same\ntasks:\n  - name: t\n" + TASK.format(command="a"))
    second = write(tmp_path, "b", "name: same\ntasks:\n  - name: u\n" + TASK.format(command="b"))
    c = resolve.compile_paths([str(tmp_path)])
    assert [w.dag_id for w in c.workflows] == ["same.t"]
    assert "project name 'same' is also used by" in str(c.errors[str(second)])


def test_airflowignore_hides_a_project(tmp_path):
    write(tmp_path, "kept", "name: kept\ntasks:\n  - name: t\n" + TASK.format(command="x"))
    write(tmp_path, "skipped", "name: skipped\ntasks:\n  - name: t\n" + TASK.format(command="x"))
    (tmp_path / ".airflowignore").write_text("skipped\n")
    assert [w.dag_id for w in resolve.compile_paths([str(tmp_path)]).workflows] == ["kept.t"]


def test_json_schema_of_ame_comes_from_the_models():
    s = schema.json_schema("ame")
    task = s["$defs"]["Task"]["properties"]
    assert {"taskRef", "taskref", "environment", "env", "artifacts", "artifactCfg", "fromTemplate"} <= set(task)
    assert {"name", "project", "tasks", "templates", "models", "dataSets"} <= set(s["properties"])
    assert s["$defs"]["Task"]["additionalProperties"] is False
    with pytest.raises(ValueError, match="unknown dialect"):
        schema.json_schema("nope")
