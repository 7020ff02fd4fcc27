"""Conformance over the real AME files in ../shared/corpus/ame: one test per row of its README table."""

from __future__ import annotations

import os

import pytest
from airflow_taskspec import compile_cache, ir, resolve

from tests.conftest import CORPUS

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> resolve.Compilation:
    os.environ[compile_cache.CACHE_ENV] = str(tmp_path_factory.mktemp("cache"))
    try:
        return resolve.compile_paths([str(CORPUS)])
    finally:
        del os.environ[compile_cache.CACHE_ENV]


def dags_of(c: resolve.Compilation, folder: str) -> dict[str, ir.Workflow]:
    spec = str(CORPUS / folder / "ame.yaml")
    return {w.dag_id: w for w in c.workflows if w.source_file == spec}


def errors_of(c: resolve.Compilation, folder: str) -> str:
    err = c.errors.get(str(CORPUS / folder / "ame.yaml"))
    assert err is not None, f"{folder} should fail to compile"
    return "\n".join(d.format() for d in err.errors)


def run_of(wf: ir.Workflow) -> ir.TaskRun:
    (run,) = ir.task_runs(wf.graph)
    return run


def test_the_corpus_is_there():
    assert len([p for p in CORPUS.iterdir() if p.is_dir()]) == 13


def test_env(compiled):
    dags = dags_of(compiled, "env")
    assert sorted(dags) == ["env.testenv", "env.testsecret"]
    assert run_of(dags["env.testenv"]).env == (ir.EnvVar("VAR1", "VAL1"), ir.EnvVar("VAR2", "VAL2"))
    assert run_of(dags["env.testsecret"]).secrets == (ir.SecretRef(ir.SecretStore.PLATFORM, "mysecret", "VAR1"),)


def test_executors_custom(compiled):
    (wf,) = dags_of(compiled, "executors-custom").values()
    run = run_of(wf)
    assert run.recipe.kind is ir.ExecutorKind.CUSTOM
    assert run.recipe.python_version == "3.10"


def test_executors_pip(compiled):
    (wf,) = dags_of(compiled, "executors-pip").values()
    assert (run_of(wf).recipe.kind, run_of(wf).recipe.python_version) == (ir.ExecutorKind.PIP, "3.10")


def test_executors_pipenv(compiled):
    (wf,) = dags_of(compiled, "executors-pipenv").values()
    assert run_of(wf).recipe.kind is ir.ExecutorKind.PIPENV


def test_executors_poetry(compiled):
    dags = dags_of(compiled, "executors-poetry")
    assert sorted(dags) == ["poetry.crontraining", "poetry.training"]
    assert dags["poetry.crontraining"].schedule == ir.Cron("* * * * *")
    assert dags["poetry.training"].schedule is None


def test_empty_ignored_keys_do_not_fail_and_data_sets_warns(compiled):
    spec = str(CORPUS / "executors-poetry" / "ame.yaml")
    warnings = [d for d in compiled.warnings if d.file == spec]
    assert [(d.line, d.column) for d in warnings] == [(3, 1)]
    assert "`data_sets`" in warnings[0].message and "`dataSets:`" in warnings[0].hint


def test_invalid_project(compiled):
    spec = CORPUS / "invalid_project" / "ame.yaml"
    assert errors_of(compiled, "invalid_project").splitlines()[0] == \
        f"{spec}:1:7: error: 'name' must be a string, not a list"
    assert dags_of(compiled, "invalid_project") == {}


def test_new_echo(compiled):
    text = errors_of(compiled, "new_echo")
    assert ":5:7: error: the executor has no executor tag" in text
    assert "`executor: !poetry` then `pythonVersion:` and `command:` below it" in text
    assert "!poetry, !pip, !pipEnv, !mlflow, !custom" in text


def test_sklearn_logistic_regression(compiled):
    text = errors_of(compiled, "sklearn_logistic_regression")
    assert ":3:5: error: task 'training' has no executor" in text
    assert "`command`, `task_type` are from older AME files: the executor replaced them" in text
    assert "Write `executor: !mlflow` (or !poetry, !pip, !pipEnv, !custom)" in text  # its command is `mlflow run .`


def test_poetry_v1(compiled):
    text = errors_of(compiled, "poetry")
    assert ":1:1: error: this is an AME v1 file (`projectid:` instead of `name:`)" in text
    assert "replace `projectid:` by `name:`" in text


@pytest.mark.parametrize("folder", ["echo", "artifacts", "pipenvnn", "pipeline"])
def test_v0_files(compiled, folder):
    text = errors_of(compiled, folder)
    assert ":1:1: error: this is an AME v0 file" in text
    assert "instead of `projectname:`" in text


def test_nothing_else_compiles(compiled):
    assert sorted(w.dag_id for w in compiled.workflows) == [
        "customtest.training", "env.testenv", "env.testsecret", "pipenvtest.training", "piptest.training",
        "poetry.crontraining", "poetry.training"]
