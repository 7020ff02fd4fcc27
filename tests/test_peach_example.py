"""The example dags/examples/peach_demo: what it compiles to, and each task run from its notebook with the
arguments from its YAML (in a copy of its project, with the test interpreter as the task's Python)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

contract = pytest.importorskip("airflow_taskspec.dialects.contract")  # branch `dialects`, see test_peach.py

from airflow_taskspec import ir
from airflow_taskspec.dialects.peach import DIALECT
from airflow_taskspec.runtime import notebook

from tests.conftest import EXAMPLES

DEMO = EXAMPLES / "peach_demo"
FILES = sorted(str(p) for p in [DEMO / "newsroom/peach.yaml", DEMO / "broadcaster/peach.conf/loop.yaml",
                                DEMO / "broadcaster/peach.conf/metadata/feeds.yaml"])


def _workflows() -> dict[str, ir.Workflow]:
    parsed = [DIALECT.read(f, Path(f).read_text()) for f in FILES]
    found: dict[str, ir.Workflow] = {}
    for key in sorted({k for p in parsed for k in DIALECT.group_keys(p)}):
        group = contract.Group(key, tuple(contract.SpecFile(p.file, p) for p in parsed if key in DIALECT.group_keys(p)))
        result = DIALECT.normalise(group, None)
        errors = [d for ds in result.diagnostics.values() for d in ds if d.severity.value == "error"]
        assert errors == []
        found.update({w.dag_id: w for w in result.workflows})
    return found


def test_the_example_compiles_to_two_organisation_loops_and_the_metadata_loop() -> None:
    wfs = _workflows()
    assert sorted(wfs) == ["peach.debr", "peach.metadata", "peach.zzebu"]
    names = {dag_id: [r.name for r in ir.task_runs(w.graph)] for dag_id, w in wfs.items()}
    assert names == {"peach.zzebu": ["rank_headlines", "word_stats"], "peach.debr": ["programme_gaps"],
                     "peach.metadata": ["debr.fetch_feed", "zzebu.section_counts"]}
    assert {r.timeout_seconds for r in ir.task_runs(wfs["peach.metadata"].graph)} == {300}
    assert {r.timeout_seconds for r in ir.task_runs(wfs["peach.zzebu"].graph)} == {3600}


def _run(wf: ir.Workflow, task: str, tmp_path: Path) -> notebook.Outcome:
    run = next(r for r in ir.task_runs(wf.graph) if r.name == task)
    recipe = run.recipe
    assert isinstance(recipe, ir.NotebookRecipe) and run.source.folder
    defaults = {p.name: json.loads(p.default) for p in wf.params if p.default is not None}
    args = {a.name: defaults[a.param] for a in recipe.arguments}
    workspace = tmp_path / task
    shutil.copytree(run.source.folder, workspace)
    prog = notebook.program(str(workspace / recipe.notebook), name=recipe.notebook, method=recipe.method,
                            full_notebook=recipe.full_notebook, args=args)
    return notebook.run(prog, python=sys.executable, workspace=str(workspace), log=lambda _: None)


def test_every_example_task_runs_and_returns_its_result(tmp_path: Path) -> None:
    wfs = _workflows()
    ranked = _run(wfs["peach.zzebu"], "rank_headlines", tmp_path)
    # storm 2 + local (1 + 0.5) + 5.2k views = 8.7; election 3 + 9.1k views = 12.1
    assert ranked.result == {"top": ["Election results in the capital", "Storm closes local schools"],
                             "side_effect_ran": False}
    assert json.loads((tmp_path / "rank_headlines/out/top_headlines.json").read_text())[0]["views"] == 9100
    words = _run(wfs["peach.zzebu"], "word_stats", tmp_path)
    assert words.result == {"words": [["election", 2], ["storm", 1], ["closes", 1]], "full_notebook_ran": True}
    gaps = _run(wfs["peach.debr"], "programme_gaps", tmp_path)
    assert gaps.result == {"one": [{"after": "News", "minutes": 15}], "two": [{"after": "Sport", "minutes": 30}]}
    assert _run(wfs["peach.metadata"], "zzebu.section_counts", tmp_path).result == {
        "politics": 2, "regional": 2, "sport": 1}
    assert _run(wfs["peach.metadata"], "debr.fetch_feed", tmp_path).result == [
        {"title": "Evening news", "category": "news"}, {"title": "Quiz night", "category": "entertainment"}]
