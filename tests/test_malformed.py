"""Malformed AME and PEACH files, each a mistake users make: `taskspec validate` and the broken-files DAG report
each one at the expected file:line:column with the expected message and hint, and no traceback.

Each case is a folder of ``tests/malformed/<dialect>/``: the spec file(s) and ``expected.txt``, the diagnostics
expected for it as `taskspec validate` prints them. A diagnostic of the dialect's main file (``ame.yaml``,
``peach.yaml``) is written without the file name; one of another file of the case with its path inside the case
folder (``peach.conf/a.yaml:3:3: error: ...``). ``{folder}`` stands for the case's absolute folder. All cases
compile side by side in one DAG folder, so each AME project and each PEACH codops has its own name; an empty
``expected.txt`` is a case that must compile without a word.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, LOADER

MALFORMED = Path(__file__).parent / "malformed"
MAIN_FILE = {"ame": "ame.yaml", "peach": "peach.yaml"}
CASES = [(dialect, p.name) for dialect in sorted(MAIN_FILE) for p in sorted((MALFORMED / dialect).iterdir())
         if p.is_dir()]
IDS = [f"{dialect}/{case}" for dialect, case in CASES]
_START = re.compile(r"^(?:[^\s:]+:)?\d+:\d+: (error|warning): ")


def _blocks(lines: list[str]) -> list[str]:
    """Diagnostics as `[path:]line:column: severity: message` with their hint lines, one string each."""
    blocks: list[str] = []
    for line in lines:
        if _START.match(line):
            blocks.append(line)
        elif line.startswith("    hint: ") and blocks:
            blocks[-1] += "\n" + line
    return blocks


def _expected(dialect: str, case: str, folder: Path) -> list[str]:
    text = (MALFORMED / dialect / case / "expected.txt").read_text().replace("{folder}", str(folder))
    return sorted(_blocks(text.splitlines()))


def _file_of(dialect: str, block: str) -> tuple[str, str]:
    """(path inside the case folder, `line:column: ...` first line) of an expected block."""
    first = block.splitlines()[0]
    head = first.split(":", 1)[0]
    if head.isdigit():
        return MAIN_FILE[dialect], first
    return head, first.removeprefix(head + ":")


@pytest.fixture(scope="module")
def dag_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("malformed") / "dags"
    shutil.copytree(MALFORMED, root)
    for dialect, case in CASES:
        (root / dialect / case / "expected.txt").unlink()
    shutil.copy(LOADER, root / LOADER.name)
    return root


@pytest.fixture(scope="module")
def validate_output(dag_folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "taskspec"), "validate", str(dag_folder)], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "TASKSPEC_COMPILE_CACHE_DIR": "off"})


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30
    assert sum(dialect == "peach" for dialect, _ in CASES) >= 15


def test_validate_fails_without_a_traceback(dag_folder: Path,
                                            validate_output: subprocess.CompletedProcess[str]) -> None:
    assert validate_output.returncode == 1
    assert "Traceback" not in validate_output.stderr + validate_output.stdout
    assert "bug in taskspec" not in validate_output.stderr
    assert "file(s) with errors" in validate_output.stderr.splitlines()[-1]
    files_with_errors = {(dialect, case, _file_of(dialect, b)[0]) for dialect, case in CASES
                         for b in _expected(dialect, case, dag_folder / dialect / case)
                         if ": error: " in b.splitlines()[0]}
    assert validate_output.stderr.splitlines()[-1].split()[-4] == str(len(files_with_errors))


@pytest.mark.parametrize("dialect, case", CASES, ids=IDS)
def test_validate_reports_exactly_the_expected(dialect: str, case: str, dag_folder: Path,
                                               validate_output: subprocess.CompletedProcess[str]) -> None:
    folder = f"{dag_folder / dialect / case}{os.sep}"
    lines = (validate_output.stdout + validate_output.stderr).splitlines()
    mine: list[str] = []
    keep = False
    for line in lines:  # a diagnostic's hint lines follow its first line
        if line.startswith(folder):
            relative = line.removeprefix(folder)
            mine.append(relative.removeprefix(MAIN_FILE[dialect] + ":"))
            keep = True
        elif keep and line.startswith("    hint: "):
            mine.append(line)
        else:
            keep = False
    assert sorted(_blocks(mine)) == _expected(dialect, case, dag_folder / dialect / case)


@pytest.fixture(scope="module")
def loaded(dag_folder: Path) -> dict[str, object]:
    from airflow_taskspec.loader import load_dags

    before = os.environ.get("TASKSPEC_COMPILE_CACHE_DIR")
    os.environ["TASKSPEC_COMPILE_CACHE_DIR"] = "off"
    try:
        return {d.dag_id: d for d in load_dags(str(dag_folder / LOADER.name), {})}
    finally:
        if before is None:
            del os.environ["TASKSPEC_COMPILE_CACHE_DIR"]
        else:
            os.environ["TASKSPEC_COMPILE_CACHE_DIR"] = before


@pytest.mark.parametrize("dialect, case", CASES, ids=IDS)
def test_the_broken_files_dag_lists_each_error(dialect: str, case: str, dag_folder: Path,
                                               loaded: dict[str, object]) -> None:
    doc = str(loaded["taskspec.broken_files"].doc_md)  # type: ignore[attr-defined]
    folder = dag_folder / dialect / case
    errors = [b for b in _expected(dialect, case, folder) if ": error: " in b.splitlines()[0]]
    if not errors:
        assert f"{folder}{os.sep}" not in doc  # a case that compiles
    for block in errors:
        # The DAG page shows each error on one line, as validate prints it: `file:line:column: error: message (fix: hint)`.
        file, first = _file_of(dialect, block)
        hint = block.splitlines()[1:]
        where, message = first.split(": error: ", 1)
        fix = f" (fix: {hint[0].removeprefix('    hint: ')})" if hint else ""
        assert f"{folder / file}:{where}: error: {message}{fix}\n" in doc


def _compile(folder: Path) -> list[object]:
    from airflow_taskspec import resolve

    compilation = resolve.compile_paths([str(folder)])
    assert compilation.errors == {}
    return list(compilation.workflows)


def test_a_peach_conf_file_two_folders_down_is_not_read(dag_folder: Path, loaded: dict[str, object]) -> None:
    # deeper_file_ignored/peach.conf/team/deeper/c.yaml is not even valid YAML; the case's own task still runs.
    from airflow_taskspec import ir

    compiled = {w.dag_id: w for w in _compile(dag_folder / "peach" / "deeper_file_ignored")}
    assert [r.name for r in ir.task_runs(compiled["peach.m-deep"].graph)] == ["rank"]
    assert "peach.m-deep" in loaded
