"""A dialect is its package plus one registry entry: a toy dialect defined here, registered at test time, is
discovered, read, cached, grouped across files, normalised and checked for DAG-id clashes by the unchanged
``resolve``, and offered by `taskspec schema`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow_taskspec import cli, compile_cache, dialects, ir, resolve, schema
from airflow_taskspec.dialects import FilePattern, Group, Lookup, Normalised
from airflow_taskspec.errors import Diagnostic, SpecError


@dataclass(frozen=True)
class ToyFile:
    group: str
    lines: tuple[tuple[int, str, str], ...]  # (line number, task name, command)


class Toy:
    """`toy.txt` or `toys/*.txt`: a first line `group: NAME`, then `task: command` lines. Each task is the DAG
    `NAME.task`; every file also belongs to the group `@all`, whose one DAG `toy.all` runs every task of every
    file one after the other (like PEACH's shared metadata loop)."""

    name = "toy"
    patterns = (FilePattern(("toy.txt",)), FilePattern(("toys/*.txt",)))

    def __init__(self) -> None:
        self.normalised: list[str] = []

    def read(self, path: str, text: str) -> ToyFile:
        first, *rest = text.splitlines() or [""]
        if not first.startswith("group: "):
            raise SpecError.single(path, 1, 1, "the first line must be `group: NAME`")
        lines = tuple((n, *line.split(":", 1)) for n, line in enumerate(rest, start=2) if line.strip())
        return ToyFile(first.removeprefix("group: "), tuple((n, name, cmd.strip()) for n, name, cmd in lines))

    def group_keys(self, parsed: ToyFile) -> tuple[str, ...]:
        return (parsed.group, "@all")

    def groups_of_dag_id(self, dag_id: str) -> tuple[str, ...]:
        return ("@all",) if dag_id == "toy.all" else (dag_id.split(".", 1)[0],)

    def normalise(self, group: Group[ToyFile], lookup: Lookup[ToyFile], only_dag_id: str | None = None) -> Normalised:
        self.normalised.append(group.key)
        runs: list[tuple[str, ir.TaskRun]] = []
        diagnostics: dict[str, list[Diagnostic]] = {}
        for spec in group.files:
            diagnostics[spec.path] = []
            for line, name, command in spec.parsed.lines:
                if not command:
                    diagnostics[spec.path].append(Diagnostic(spec.path, line, len(name) + 2, f"task '{name}' has no command"))
                    continue
                runs.append((spec.path, ir.TaskRun(
                    name=name, recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, command),
                    source=ir.ProjectSource(folder=os.path.dirname(spec.path)), origin=ir.Origin(spec.path, line, 1))))
        if group.key == "@all":
            first = group.files[0].path
            workflows = [ir.Workflow("toy.all", "every toy task", ir.Origin(first, 1, 1), "",
                                     ir.Sequence(tuple(r for _, r in runs), continue_on_failure=True))]
        else:
            workflows = [ir.Workflow(f"{group.key}.{run.name}", run.name, run.origin or ir.Origin(path), "", run)
                         for path, run in runs]
        return Normalised(workflows, diagnostics)

    def json_schema(self) -> dict[str, Any]:
        return {"title": "toy files"}


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Toy:
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
    dialect = Toy()
    monkeypatch.setitem(dialects.REGISTRY, dialect.name, dialect)
    return dialect


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_registered_dialect_compiles_its_files_next_to_ame(toy: Toy, tmp_path: Path) -> None:
    write(tmp_path / "p" / "ame.yaml", "name: p\ntasks:\n  - name: t\n    executor: !custom\n      command: x\n")
    one = write(tmp_path / "a" / "toy.txt", "group: g\nfirst: echo 1\nbroken:\nsecond: echo 2\n")
    two = write(tmp_path / "b" / "toys" / "more.txt", "group: g\n\nthird: echo 3\n")
    write(tmp_path / "b" / "toys" / "deeper" / "not-read.txt", "group: g\nnever: echo\n")
    c = resolve.compile_paths([str(tmp_path)])
    by_id = {w.dag_id: w for w in c.workflows}
    assert sorted(by_id) == ["g.first", "g.second", "g.third", "p.t", "toy.all"]
    # One group across two files; origins are the real lines.
    assert by_id["g.second"].origin == ir.Origin(str(one), 4, 1)
    assert by_id["g.third"].graph.origin == ir.Origin(str(two), 3, 1)
    # The error of one task coexists with the valid tasks of the same file.
    assert [d.format() for d in c.errors[str(one)].diagnostics] == [f"{one}:3:8: error: task 'broken' has no command"]
    assert list(c.errors) == [str(one)]
    # A file belongs to two groups: the shared DAG holds the tasks of every file, in order.
    everything = by_id["toy.all"].graph
    assert isinstance(everything, ir.Sequence) and everything.continue_on_failure
    assert [r.name for r in ir.task_runs(everything)] == ["first", "second", "third"]


def test_the_cache_serves_any_dialect_and_a_changed_member_recompiles_only_its_groups(toy: Toy, tmp_path: Path,
                                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "a" / "toy.txt", "group: g\nfirst: echo 1\n")
    second = write(tmp_path / "b" / "toy.txt", "group: g\nsecond: echo 2\n")
    write(tmp_path / "c" / "toy.txt", "group: h\nother: echo 3\n")
    first = resolve.compile_paths([str(tmp_path)]).workflows
    assert sorted(toy.normalised) == ["@all", "g", "h"]

    toy.normalised.clear()
    real_read = toy.read
    monkeypatch.setattr(toy, "read", lambda *a: pytest.fail("read although cached"))
    assert resolve.compile_paths([str(tmp_path)]).workflows == first
    assert toy.normalised == []

    # `b/toy.txt` is not the first file of group g, whose result is kept with `a/toy.txt`: still recompiled.
    monkeypatch.setattr(toy, "read", real_read)
    second.write_text("group: g\nsecond: echo changed\n")
    c = resolve.compile_paths([str(tmp_path)])
    assert sorted(toy.normalised) == ["@all", "g"]
    assert {w.dag_id: w.graph.recipe.command for w in c.workflows if w.dag_id.startswith("g.")} == \
        {"g.first": "echo 1", "g.second": "echo changed"}


def test_only_the_groups_that_can_produce_the_dag_are_normalised(toy: Toy, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compile_cache.CACHE_ENV, "off")
    write(tmp_path / "a" / "toy.txt", "group: g\nfirst: echo 1\n")
    write(tmp_path / "c" / "toy.txt", "group: h\nother: echo 3\n")
    c = resolve.compile_paths([str(tmp_path)], only_dag_id="toy.all")
    assert [w.dag_id for w in c.workflows] == ["toy.all"] and toy.normalised == ["@all"]


def test_a_dag_id_clash_between_files_points_at_both_definitions(toy: Toy, tmp_path: Path) -> None:
    ame = write(tmp_path / "p" / "ame.yaml", "name: p\ntasks:\n  - name: t\n    executor: !custom\n      command: x\n")
    clash = write(tmp_path / "q" / "toy.txt", "group: p\n\n\nt: echo from toy\n")
    c = resolve.compile_paths([str(tmp_path)])
    assert [w.origin.file for w in c.workflows if w.dag_id == "p.t"] == [str(ame)]
    (error,) = c.errors[str(clash)].diagnostics
    assert error.format().splitlines()[0] == f"{clash}:4:1: error: DAG id 'p.t' is also defined at {ame}:3:5"


def test_schema_and_cli_offer_every_registered_dialect(toy: Toy, capsys: pytest.CaptureFixture[str]) -> None:
    assert schema.json_schema("toy") == {"title": "toy files"}
    assert cli.main(["schema", "toy"]) == 0
    assert json.loads(capsys.readouterr().out) == {"title": "toy files"}
    schema_command = next(a for a in cli.parser()._subparsers._group_actions[0].choices["schema"]._actions
                          if a.dest == "dialect")
    assert schema_command.choices == ["ame", "toy"]
