"""Malformed AME files, each a mistake users make: `taskspec validate` and the broken-files DAG report each one
at the expected file:line:column with the expected message and hint, and no traceback.

Each case is a folder of ``tests/malformed/<dialect>/``: the spec file and ``expected.txt``, the diagnostics
expected for it as `taskspec validate` prints them, without the file name (``{folder}`` stands for the case's
absolute folder). A case compiles beside all the others, so each project has its own name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, LOADER

CASES = Path(__file__).parent / "malformed" / "ame"
NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())
_START = re.compile(r"^\d+:\d+: (error|warning): ")


def _blocks(lines: list[str]) -> list[str]:
    """Diagnostics as `line:column: severity: message` with their hint lines, one string each."""
    blocks: list[str] = []
    for line in lines:
        if _START.match(line):
            blocks.append(line)
        elif line.startswith("    hint: ") and blocks:
            blocks[-1] += "\n" + line
    return blocks


def _expected(case: str, folder: Path) -> list[str]:
    text = (CASES / case / "expected.txt").read_text().replace("{folder}", str(folder))
    return sorted(_blocks(text.splitlines()))


@pytest.fixture(scope="module")
def dag_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("malformed") / "dags"
    shutil.copytree(CASES, root)
    for case in NAMES:
        (root / case / "expected.txt").unlink()
    shutil.copy(LOADER, root / LOADER.name)
    return root


@pytest.fixture(scope="module")
def validate_output(dag_folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "taskspec"), "validate", str(dag_folder)], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "TASKSPEC_COMPILE_CACHE_DIR": "off"})


def test_there_are_enough_cases() -> None:
    assert len(NAMES) >= 30


def test_validate_fails_without_a_traceback(validate_output: subprocess.CompletedProcess[str]) -> None:
    assert validate_output.returncode == 1
    assert "Traceback" not in validate_output.stderr + validate_output.stdout
    assert "bug in taskspec" not in validate_output.stderr
    assert "file(s) with errors" in validate_output.stderr.splitlines()[-1]
    assert validate_output.stderr.splitlines()[-1].split()[-4] == str(len(NAMES))


@pytest.mark.parametrize("case", NAMES)
def test_validate_reports_exactly_the_expected(case: str, dag_folder: Path,
                                               validate_output: subprocess.CompletedProcess[str]) -> None:
    prefix = f"{dag_folder / case / 'ame.yaml'}:"
    lines = (validate_output.stdout + validate_output.stderr).splitlines()
    mine: list[str] = []
    keep = False
    for line in lines:  # a diagnostic's hint lines follow its first line
        if line.startswith(prefix):
            mine.append(line.removeprefix(prefix))
            keep = True
        elif keep and line.startswith("    hint: "):
            mine.append(line)
        else:
            keep = False
    assert sorted(_blocks(mine)) == _expected(case, dag_folder / case)


@pytest.fixture(scope="module")
def broken_files_doc(dag_folder: Path) -> str:
    from airflow_taskspec.loader import load_dags

    before = os.environ.get("TASKSPEC_COMPILE_CACHE_DIR")
    os.environ["TASKSPEC_COMPILE_CACHE_DIR"] = "off"
    try:
        dags = {d.dag_id: d for d in load_dags(str(dag_folder / LOADER.name), {})}
    finally:
        if before is None:
            del os.environ["TASKSPEC_COMPILE_CACHE_DIR"]
        else:
            os.environ["TASKSPEC_COMPILE_CACHE_DIR"] = before
    return str(dags["taskspec.broken_files"].doc_md)


@pytest.mark.parametrize("case", NAMES)
def test_the_broken_files_dag_lists_each_error(case: str, dag_folder: Path, broken_files_doc: str) -> None:
    errors = [b for b in _expected(case, dag_folder / case) if ": error: " in b.splitlines()[0]]
    assert errors, "every case is an error"
    for block in errors:
        # The DAG page shows each error on one line, as validate prints it: `file:line:column: error: message (fix: hint)`.
        first, *hint = block.splitlines()
        where, message = first.split(": error: ", 1)
        fix = f" (fix: {hint[0].removeprefix('    hint: ')})" if hint else ""
        assert f"{dag_folder / case / 'ame.yaml'}:{where}: error: {message}{fix}\n" in broken_files_doc
