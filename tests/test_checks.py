"""One check for the loader, the broken-files DAG and `taskspec validate`; render and list with a broken project."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import markdown_it
import pytest
from airflow_taskspec.broken_files import BROKEN_FILES_DAG_ID
from airflow_taskspec.loader import load_dags

from tests.conftest import BIN, make_dag_folder

K8S_ONLY = """name: p
tasks:
  - name: t
    executor: !custom
      command: echo hi
    secrets:
      - !ame
        key: "my secret!"
        injectAs: TOKEN
  - name: fine
    executor: !custom
      command: echo ok
"""
QUOTED = "name: q\ntasks:\n  - name: t\n    executor: !custom\n      command: 'true'\n    resources:\n      cpu: \"a'b\"\n"


def taskspec(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "taskspec"), *args], capture_output=True, text=True, timeout=180, check=False,
                          env={**os.environ, **env})


def test_validate_and_the_loader_report_the_same_backend_error(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_dag_folder(tmp_path / "dags", {"p": K8S_ONLY})
    where = f"{folder / 'p' / 'ame.yaml'}:3:5"
    proc = taskspec("validate", "--backend", "kubernetes", str(folder))
    assert proc.returncode == 1
    assert f"{where}: error: DAG p.t cannot be built with the kubernetes backend" in proc.stderr
    assert "cannot name a Kubernetes Secret" in proc.stderr and "2 DAG(s) compiled, 1 file(s) with errors" in proc.stderr

    monkeypatch.setenv("AIRFLOW__TASKSPEC__BACKEND", "kubernetes")
    dags = {d.dag_id: d for d in load_dags(str(folder), {})}
    assert set(dags) == {"p.fine", BROKEN_FILES_DAG_ID}  # the valid task of the same file is still built
    assert f"{where}: error: DAG p.t cannot be built with the kubernetes backend" in dags[BROKEN_FILES_DAG_ID].doc_md
    assert taskspec("validate", "--backend", "local", str(folder)).returncode == 0


def test_the_broken_files_docs_read_well(tmp_path: Path) -> None:
    folder = make_dag_folder(tmp_path / "dags", {"q": QUOTED, "ok": "name: ok\ntasks: []\n"})
    broken = {d.dag_id: d for d in load_dags(str(folder), {})}[BROKEN_FILES_DAG_ID]
    doc = broken.doc_md
    assert "&#x27;" not in doc and "&quot;" not in doc
    assert doc.startswith("## 1 spec file(s) failed to compile (1 error(s))")
    code = [t.content for t in markdown_it.MarkdownIt().parse(doc) if t.type == "fence"]
    line = f"{folder / 'q' / 'ame.yaml'}:7:7: error: resource 'cpu': 'a'b' is not a Kubernetes quantity"
    assert len(code) == 1 and code[0].startswith(line)
    assert code[0].count("\n") == 1  # one error, one line (a hint goes on the same line)
    assert broken.description.startswith(f"{folder / 'q' / 'ame.yaml'}:7:7: resource 'cpu'")


def test_running_the_broken_files_dag_builds_it_with_every_error(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Errors found while normalising (a taskRef to nothing), not while reading: the worker must still see them.
    bad_ref = "name: r\ntasks:\n  - name: pipe\n    pipeline:\n      - taskRef: nowhere\n"
    folder = make_dag_folder(tmp_path / "dags", {"r": bad_ref})
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", BROKEN_FILES_DAG_ID)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "report_errors")
    dags = load_dags(str(folder), {})
    assert [d.dag_id for d in dags] == [BROKEN_FILES_DAG_ID]
    assert "taskRef 'nowhere'" in dags[0].doc_md


def test_render_and_list_handle_the_other_projects_and_say_what_failed(tmp_path: Path) -> None:
    folder = make_dag_folder(tmp_path / "dags", {"p": K8S_ONLY, "q": QUOTED})
    proc = taskspec("render", str(folder))
    assert proc.returncode == 1
    assert "# p.fine / fine: run" in proc.stdout and "p.t /" not in proc.stdout
    assert f"{folder / 'p' / 'ame.yaml'}:3:5: error: DAG p.t cannot be rendered" in proc.stderr
    assert f"{folder / 'q' / 'ame.yaml'}:7:7: error:" in proc.stderr
    assert "is a folder on this machine; pods reach it only as a hostPath" in proc.stderr
    assert "Building pod" not in proc.stderr + proc.stdout
    listed = taskspec("list", str(folder))
    assert listed.returncode == 1 and listed.stdout.split()[0] == "p.t"
    assert f"{folder / 'q' / 'ame.yaml'}:7:7: error:" in listed.stderr and "1 file(s) with errors" in listed.stderr
