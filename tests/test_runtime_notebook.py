"""runtime.notebook on real .ipynb files: which cells run, arguments, results, tracebacks, magics, kills."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow_taskspec.runtime import notebook

from tests.notebooks import write_notebook

# The test interpreter has no IPython: magics are skipped with a warning here.
PYTHON = sys.executable

SIDE_EFFECT = "import pathlib\npathlib.Path('side_effect.txt').write_text('the side effect ran')\n"


def _demo(tmp_path: Path) -> Path:
    return write_notebook(tmp_path / "nb" / "demo.ipynb", [
        ("markdown", "# Demo\nCells 2-4 are setup; cell 5 defines the entry point."),
        "import json\nimport statistics\n",
        "def helper(values):\n    return statistics.mean(values)\n",
        SIDE_EFFECT,
        ("import statistics\n\n\ndef summarise(values, label='x'):\n"
         "    return {'label': label, 'mean': statistics.mean(values), 'n': len(values)}\n"),
        "def uses_helper(values):\n    return {'helper_mean': helper(values)}\n",
    ])


def _run(tmp_path: Path, nb: Path, method: str, args: dict, *, full: bool = False, timeout: float | None = None
         ) -> tuple[notebook.Outcome, list[str]]:
    prog = notebook.program(str(nb), name="nb/demo.ipynb", method=method, full_notebook=full, args=args,
                            version="abc1234")
    lines: list[str] = []
    outcome = notebook.run(prog, python=PYTHON, workspace=str(tmp_path), log=lines.append, timeout=timeout)
    return outcome, lines


def test_only_the_cell_defining_the_method_runs(tmp_path: Path) -> None:
    outcome, _ = _run(tmp_path, _demo(tmp_path), "summarise", {"values": [1, 2, 6], "label": "three"})
    assert outcome.ok, outcome.error
    assert outcome.result == {"label": "three", "mean": 3, "n": 3}
    assert not (tmp_path / "side_effect.txt").exists()


def test_full_notebook_runs_every_code_cell_in_order(tmp_path: Path) -> None:
    outcome, lines = _run(tmp_path, _demo(tmp_path), "uses_helper", {"values": [2, 4]}, full=True)
    assert outcome.ok, outcome.error
    assert outcome.result == {"helper_mean": 3}
    assert (tmp_path / "side_effect.txt").read_text() == "the side effect ran"
    assert "cells 2, 3, 4, 5, 6" in lines[0]


def test_without_full_notebook_helpers_of_other_cells_are_missing(tmp_path: Path) -> None:
    outcome, _ = _run(tmp_path, _demo(tmp_path), "uses_helper", {"values": [2, 4]})
    assert not outcome.ok
    assert "NameError: name 'helper' is not defined" in outcome.error


def test_nested_args_arrive_intact(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "echo.ipynb", ["def echo(**kwargs):\n    return kwargs\n"])
    args = {"user": "f57246b6", "item_id": 35421, "ratio": 23.45, "on": True, "nothing": None,
            "my_dict": {"item1": "message", "second_dict": {"sub_item1": 8734, "sub_item2": ["test", 23.45]}}}
    outcome, _ = _run(tmp_path, nb, "echo", args)
    assert outcome.ok, outcome.error
    assert outcome.result == args
    assert isinstance(outcome.result["item_id"], int) and isinstance(outcome.result["ratio"], float)


def test_an_exception_names_the_notebook_cell_and_line_with_the_source(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", [
        ("markdown", "intro"),
        "def ratio(a, b):\n    total = a + b\n    return a / (b - b)\n",
        "def task(a, b):\n    return ratio(a, b)\n",
    ])
    outcome, lines = _run(tmp_path, nb, "task", {"a": 1, "b": 2}, full=True)
    assert not outcome.ok
    assert 'File "nb/demo.ipynb", cell 3, line 2, in task' in outcome.error
    assert 'File "nb/demo.ipynb", cell 2, line 3, in ratio' in outcome.error
    assert "    return a / (b - b)" in outcome.error.splitlines()
    assert outcome.error.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "notebook_child" not in outcome.error  # the runner's own frames are not the user's code
    assert any("cell 2, line 3, in ratio" in line for line in lines)  # also in the task log


def test_a_syntax_error_in_a_cell_names_cell_and_line(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", ["x = 1\n", "def task():\n    return 1\n",
                                                          "y = (\n  2,\n  3 4)\n"])
    outcome, _ = _run(tmp_path, nb, "task", {}, full=True)
    assert not outcome.ok
    assert 'nb/demo.ipynb: cell 3 failed' in outcome.error
    assert 'File "nb/demo.ipynb", cell 3, line 3' in outcome.error
    assert "SyntaxError" in outcome.error


def test_magics_are_skipped_with_a_warning_without_ipython(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", [
        "%matplotlib inline\nimport os\n!echo shell-ran > shell.txt\nfiles = !ls\n",
        "%%bash\necho cell-magic-ran > cell.txt\n",
        "def task():\n    return os.getcwd() != ''\n",
    ])
    outcome, lines = _run(tmp_path, nb, "task", {}, full=True)
    assert outcome.ok, outcome.error
    assert outcome.result is True
    warnings = [line for line in lines if line.startswith("taskspec: warning:")]
    assert [w.split(": skipped")[0] for w in warnings] == [
        "taskspec: warning: nb/demo.ipynb cell 1, line 1", "taskspec: warning: nb/demo.ipynb cell 1, line 3",
        "taskspec: warning: nb/demo.ipynb cell 1, line 4", "taskspec: warning: nb/demo.ipynb cell 2, line 1"]
    assert "`!echo shell-ran > shell.txt`" in warnings[1]
    assert not (tmp_path / "shell.txt").exists() and not (tmp_path / "cell.txt").exists()


def test_a_magic_inside_the_method_cell_does_not_hide_the_method(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", [
        "%load_ext autoreload\ndef task(n):\n    if n:\n        !echo indented\n    return n * 2\n"])
    outcome, lines = _run(tmp_path, nb, "task", {"n": 21})
    assert outcome.ok, outcome.error
    assert outcome.result == 42
    assert sum("skipped the IPython magic" in line for line in lines) == 2


def test_a_value_that_is_not_json_is_not_the_result(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", ["def task():\n    return {1, 2}\n"])
    outcome, lines = _run(tmp_path, nb, "task", {})
    assert outcome.ok
    assert outcome.result is None
    assert any("returned a set, which is not JSON-serialisable" in line for line in lines)


def test_input_gets_end_of_file_not_the_workers_stdin(tmp_path: Path) -> None:
    import os

    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", [
        "def task():\n    try:\n        return {'read': input()}\n    except EOFError:\n        return {'read': None}\n"])
    read_end, write_end = os.pipe()
    os.write(write_end, b"not-yours\n")
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)  # the worker's fd 0 holds data
    try:
        outcome, _ = _run(tmp_path, nb, "task", {})
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(read_end)
    assert outcome.ok, outcome.error
    assert outcome.result == {"read": None}


def test_a_timeout_stops_the_method_and_what_it_started(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", [(
        "import subprocess, time, pathlib\n"
        "def task():\n"
        "    child = subprocess.Popen(['sleep', '300'])\n"
        "    pathlib.Path('child.pid').write_text(str(child.pid))\n"
        "    time.sleep(300)\n")])
    outcome, _ = _run(tmp_path, nb, "task", {}, timeout=2)
    assert not outcome.ok
    assert "did not finish within 2 s and was stopped" in outcome.error
    pid = int((tmp_path / "child.pid").read_text())
    # The grandchild went with the process group (it may take a moment to finish exiting).
    assert _wait_until_gone(pid), f"process {pid} started by the notebook is still running"


def _wait_until_gone(pid: int) -> bool:
    for _ in range(100):
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    """Running or sleeping; a zombie (killed, not yet reaped by init) is not alive."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_no_method_is_an_error_listing_cells_that_are_not_python(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", ["x = 1\n", "def other():\n    pass\n", "def (:\n"])
    with pytest.raises(notebook.NotebookError) as err:
        notebook.program(str(nb), name="demo.ipynb", method="task", full_notebook=False, args={})
    assert "no code cell of demo.ipynb defines `def task(...)` at top level" in str(err.value)
    assert "cell 3 line 1" in str(err.value)


def test_a_nested_definition_is_not_the_entry_point(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", ["class C:\n    def task(self):\n        pass\n"])
    with pytest.raises(notebook.NotebookError):
        notebook.program(str(nb), name="demo.ipynb", method="task", full_notebook=False, args={})


def test_the_last_definition_wins(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", ["def task():\n    return 'first'\n",
                                                          "def task():\n    return 'second'\n"])
    found = notebook.find_method(notebook.read_code_cells(str(nb)), "task")
    assert found is not None and found.cell.number == 2


def test_invalid_and_missing_notebooks(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": "not a list", "nbformat": 4, "nbformat_minor": 5, "metadata": {}}')
    with pytest.raises(notebook.NotebookError, match="bad.ipynb is not a valid Jupyter notebook"):
        notebook.read_code_cells(str(bad), "bad.ipynb")
    (tmp_path / "text.ipynb").write_text("print('hello')\n")
    with pytest.raises(notebook.NotebookError, match="text.ipynb is not a valid Jupyter notebook"):
        notebook.read_code_cells(str(tmp_path / "text.ipynb"), "text.ipynb")
    with pytest.raises(notebook.NotebookError, match="notebook gone.ipynb does not exist"):
        notebook.read_code_cells(str(tmp_path / "gone.ipynb"), "gone.ipynb")
    (tmp_path / "folder.ipynb").mkdir()
    with pytest.raises(notebook.NotebookError, match="notebook folder.ipynb cannot be read: Is a directory"):
        notebook.read_code_cells(str(tmp_path / "folder.ipynb"), "folder.ipynb")


def test_argument_problems_show_the_signature(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "n.ipynb", ["def task(user, item_id=1, *, flag=False):\n    pass\n",
                                                "def open_task(user, **rest):\n    pass\n"])
    cells = notebook.read_code_cells(str(nb))
    task = notebook.find_method(cells, "task")
    assert task is not None
    assert notebook.argument_problems(task, {"user": 1, "flag": True}) == []
    assert notebook.argument_problems(task, {"user": 1, "itemid": 2}) == [
        "args sets 'itemid', which def task(user, item_id=1, *, flag=False) does not accept"]
    assert notebook.argument_problems(task, {}) == [
        "def task(user, item_id=1, *, flag=False) needs 'user', which args does not set"]
    open_task = notebook.find_method(cells, "open_task")
    assert open_task is not None
    assert notebook.argument_problems(open_task, {"user": 1, "anything": 2}) == []


def test_version_is_the_short_commit_of_the_notebook(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    nb = write_notebook(repo / "notebooks" / "a.ipynb", ["def task():\n    pass\n"])
    (repo / "other.txt").write_text("x")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "notebook")
    notebook_commit = git("rev-parse", "--short", "HEAD")
    (repo / "other.txt").write_text("y")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "not the notebook")
    assert git("rev-parse", "--short", "HEAD") != notebook_commit
    assert notebook.version(str(nb)) == notebook_commit  # the commit that last changed this file
    write_notebook(nb, ["def task():\n    return 1\n"])
    assert notebook.version(str(nb)) == notebook_commit + "-dirty"


def test_version_outside_git_is_a_content_hash(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "a.ipynb", ["def task():\n    pass\n"])
    expected = "sha256:" + hashlib.sha256(nb.read_bytes()).hexdigest()[:12]
    assert notebook.version(str(nb)) == expected


def test_program_json_is_what_the_child_reads(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "a.ipynb", [("markdown", "m"), "def task(x):\n    return x\n"])
    prog = notebook.program(str(nb), name="a.ipynb", method="task", full_notebook=False, args={"x": [1]},
                            version="v1")
    assert json.loads(prog.to_json()) == {"notebook": "a.ipynb", "method": "task", "args": {"x": [1]},
                                          "version": "v1",
                                          "cells": [{"cell": 2, "source": "def task(x):\n    return x\n"}]}


@pytest.mark.integration
def test_magics_run_when_ipython_is_in_the_environment(tmp_path: Path) -> None:
    """A real environment with IPython (installed by uv from the package index, cached across sessions)."""
    from airflow_taskspec.backends.local import _uv_binary
    from airflow_taskspec.runtime import environments

    cache = Path(__file__).resolve().parents[1] / ".cache" / "test-envs"
    env = environments.ensure(["ipython"], cache_dir=str(cache), python_version="3.11", uv=_uv_binary(),
                              name="ipython", log=lambda _: None)
    nb = write_notebook(tmp_path / "nb" / "demo.ipynb", [
        "!echo shell-ran > shell.txt\nfiles = !ls\n",
        "%%bash\necho cell-magic-ran > cell.txt\n",
        "def task():\n    return {'listed': 'shell.txt' in files}\n",
    ])
    prog = notebook.program(str(nb), name="nb/demo.ipynb", method="task", full_notebook=True, args={})
    lines: list[str] = []
    outcome = notebook.run(prog, python=env.python, workspace=str(tmp_path), log=lines.append)
    assert outcome.ok, outcome.error
    assert outcome.result == {"listed": True}
    assert (tmp_path / "shell.txt").read_text() == "shell-ran\n"
    assert (tmp_path / "cell.txt").read_text() == "cell-magic-ran\n"
    assert not [line for line in lines if "skipped the IPython magic" in line]
