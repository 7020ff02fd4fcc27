"""The PEACH dialect through the unchanged, dialect-blind ``resolve`` and CLI, registered at test time as the
registry line will register it: discovery (root file, peach.conf and one level below, not two,
.airflowignore), merging across project folders, per-file errors next to valid DAGs, the compile cache
following the notebooks, `taskspec validate|list|schema peach`, and the broken-files DAG."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from airflow_taskspec import cli, compile_cache, dialects, ir, resolve
from airflow_taskspec.dialects import peach

from tests.conftest import EXAMPLES
from tests.notebooks import write_notebook

TASK = "  {name}:\n    notebook: nb.ipynb\n    method: task\n    args: {{user: x}}\n"


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setitem(dialects.REGISTRY, peach.DIALECT.name, peach.DIALECT)


def _project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    write_notebook(root / "nb.ipynb", ["x = 1\n", "def task(user):\n    return user\n"])
    return root


def _tasks(c: resolve.Compilation, dag_id: str) -> list[str]:
    wf = next(w for w in c.workflows if w.dag_id == dag_id)
    return [r.name for r in ir.task_runs(wf.graph)]


def test_discovery_and_merging_through_resolve(registered: None, tmp_path: Path) -> None:
    _project(tmp_path / "one", {
        "peach.yaml": "codops: debr\ntasks:\n" + TASK.format(name="root_task"),
        "peach.conf/a.yaml": "codops: debr\ntasks:\n" + TASK.format(name="conf_task"),
        "peach.conf/team/b.yml": "codops: debr\ntasks:\n" + TASK.format(name="sub_task"),
        "peach.conf/team/deeper/c.yaml": "codops: debr\ntasks:\n" + TASK.format(name="too_deep"),
    })
    _project(tmp_path / "two", {"peach.yaml": "codops: debr\ntasks:\n" + TASK.format(name="other_project")})
    _project(tmp_path / "ignored", {"peach.yaml": "codops: debr\ntasks:\n" + TASK.format(name="ignored_task")})
    (tmp_path / ".airflowignore").write_text("ignored/\n")
    c = resolve.compile_paths([str(tmp_path)])
    assert c.errors == {}
    assert sorted(w.dag_id for w in c.workflows) == ["peach.debr"]
    # file path order: one/peach.conf/a.yaml < one/peach.conf/team/b.yml < one/peach.yaml < two/peach.yaml
    assert _tasks(c, "peach.debr") == ["conf_task", "sub_task", "root_task", "other_project"]


def test_the_example_compiles_next_to_the_ame_examples(registered: None) -> None:
    c = resolve.compile_paths([str(EXAMPLES)])
    assert c.errors == {}
    ids = sorted(w.dag_id for w in c.workflows)
    assert {"peach.debr", "peach.metadata", "peach.zzebu", "hello.daily_greeting"} <= set(ids)
    assert _tasks(c, "peach.metadata") == ["debr.fetch_feed", "zzebu.section_counts"]
    only = resolve.compile_paths([str(EXAMPLES)], only_dag_id="peach.metadata")
    assert [w.dag_id for w in only.workflows] == ["peach.metadata"]


def test_a_broken_file_is_reported_and_the_other_tasks_still_build(registered: None, tmp_path: Path) -> None:
    p = _project(tmp_path / "one", {
        "peach.yaml": "codops: debr\ntasks:\n" + TASK.format(name="good"),
        "peach.conf/bad.yaml": "codops: debr\ntasks:\n  bad:\n    notebook: nb.ipynb\n    method: task\n"
                               "    loop: hourly\n",
    })
    c = resolve.compile_paths([str(tmp_path)])
    assert [d.format().splitlines()[0] for d in c.errors[str(p / "peach.conf/bad.yaml")].diagnostics] == [
        (f"{p / 'peach.conf/bad.yaml'}:6:11: error: unknown loop 'hourly'; leave `loop` out for the "
        "organisation's loop, or write `loop: metadata`")]
    assert _tasks(c, "peach.debr") == ["good"]


def test_a_changed_notebook_recompiles_its_group(registered: None, tmp_path: Path) -> None:
    p = _project(tmp_path / "one", {"peach.yaml": "codops: debr\ntasks:\n" + TASK.format(name="t")})
    assert resolve.compile_paths([str(tmp_path)]).errors == {}
    write_notebook(p / "nb.ipynb", ["def renamed(user):\n    return user\n"])  # the YAML is unchanged
    c = resolve.compile_paths([str(tmp_path)])
    assert [d.message for d in c.errors[str(p / "peach.yaml")].diagnostics] == [
        "no code cell of nb.ipynb defines `def task(...)` at top level"]


def test_the_cli_validates_lists_and_gives_the_schema(registered: None, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    demo = tmp_path / "demo"
    shutil.copytree(EXAMPLES / "peach_demo", demo)
    assert cli.main(["validate", str(demo)]) == 0
    assert cli.main(["list", str(demo)]) == 0
    listed = capsys.readouterr().out
    assert "peach.zzebu\t@continuous\t" in listed and "peach.metadata\t@continuous\t" in listed
    assert cli.main(["schema", "peach"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "PEACH task file"
    (demo / "newsroom/peach.yaml").write_text((demo / "newsroom/peach.yaml").read_text().replace(
        "method: word_stats", "method: word_stat"))
    assert cli.main(["validate", str(demo)]) == 1
    out = capsys.readouterr()
    assert f"{demo / 'newsroom/peach.yaml'}:18:13: error: no code cell of notebooks/word_stats.ipynb defines " \
           "`def word_stat(...)` at top level" in out.out + out.err
    assert "did you mean 'word_stats'?" in out.out + out.err


def test_the_broken_files_dag_shows_peach_errors(registered: None, tmp_path: Path) -> None:
    from airflow_taskspec import loader
    from airflow_taskspec.broken_files import BROKEN_FILES_DAG_ID

    p = _project(tmp_path / "one", {"peach.yaml": "codops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n"
                                                  "    method: task\n    args: {user: x, usr: y}\n"})
    dags = loader.load_dags(str(tmp_path), {})
    [broken] = [d for d in dags if d.dag_id == BROKEN_FILES_DAG_ID]
    expected = f"{p / 'peach.yaml'}:6:21: error: args sets 'usr', which def task(user) does not accept"
    assert expected in broken.doc_md
