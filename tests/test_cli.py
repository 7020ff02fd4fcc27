"""`taskspec validate` on the examples and on a broken copy of one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import BIN, EXAMPLES


def _taskspec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "taskspec"), *args], check=False, capture_output=True, text=True)


def test_validate_examples_exits_zero() -> None:
    result = _taskspec("validate", str(EXAMPLES))
    assert result.returncode == 0, result.stderr
    assert "9 DAG(s) compiled, 0 file(s) with errors" in result.stderr  # 6 AME DAGs, 3 PEACH loops


def test_validate_broken_copy_exits_non_zero_with_file_and_line(tmp_path: Path) -> None:
    copy = tmp_path / "house_prices"
    shutil.copytree(EXAMPLES / "house_prices", copy)
    spec = copy / "ame.yaml"
    lines = spec.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "command: python compare.py" in line)
    lines[at] = lines[at].replace("command:", "comand:")
    spec.write_text("\n".join(lines) + "\n")

    result = _taskspec("validate", str(copy))

    assert result.returncode == 1
    assert f"{spec}:{at + 1}:7: error: unknown key 'comand'" in result.stderr
    assert "did you mean 'command'?" in result.stderr


def test_list_prints_dag_ids_and_schedules() -> None:
    result = _taskspec("list", str(EXAMPLES))
    assert result.returncode == 0
    assert "hello.daily_greeting\t0 6 * * *\t" in result.stdout


def test_list_prints_only_dag_lines_with_an_airflowignore_in_the_folder(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "hello", tmp_path / "hello")
    (tmp_path / ".airflowignore").write_text("drafts/\n")  # Airflow's own reading of it warned on stdout
    result = _taskspec("list", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("hello.") and line.count("\t") == 2 for line in lines), result.stdout
