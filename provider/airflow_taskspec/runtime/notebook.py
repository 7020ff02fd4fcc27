"""PEACH notebook entry points: pick the code to run from a notebook, and run it in the task's environment.

The worker (which has ``nbformat``) reads the notebook and picks the cells: the code cell that defines
``method`` at top level, or every code cell in order with ``full_notebook``. The picked cells, the method
name and its arguments go to ``notebook_child.py`` as JSON; that script runs in a subprocess of the task's own
Python environment (a process group of its own, so a timeout or a kill stops everything it started), which
needs only the standard library. Used by both backends; no Airflow import.

Cells are numbered as the notebook shows them: 1 is the first cell, markdown cells included.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import files, notebook_child, processes

RUNNER = os.path.abspath(notebook_child.__file__)
PROGRAM_FILE = os.path.join(".taskspec", "notebook-program.json")
RESULT_FILE = os.path.join(".taskspec", "notebook-result.json")


class NotebookError(Exception):
    """A notebook that cannot be run as asked: missing, not a valid notebook, or without the method."""


@dataclass(frozen=True)
class Cell:
    number: int  # 1-based position in the notebook, markdown cells included
    source: str


@dataclass(frozen=True)
class Program:
    """What the child runs: the cells in order, then ``method(**args)``."""

    notebook: str  # as the task names it (relative to the project), for messages and tracebacks
    method: str
    cells: tuple[Cell, ...]
    args: dict[str, Any] = field(default_factory=dict)
    version: str = ""

    def to_json(self) -> str:
        return json.dumps({
            "notebook": self.notebook, "method": self.method, "args": self.args, "version": self.version,
            "cells": [{"cell": c.number, "source": c.source} for c in self.cells],
        })


def read_code_cells(path: str, name: str | None = None) -> list[Cell]:
    """The notebook's code cells, read and validated with nbformat (notebooks of format 3 are upgraded)."""
    name = name or path
    return code_cells_of(notebook_text(path, name), name)


def notebook_text(path: str, name: str) -> str:
    """The notebook file's text; NotebookError saying why when it cannot be read (``name`` is for the message)."""
    try:
        return files.read_regular_file(path).decode("utf-8")
    except FileNotFoundError:
        raise NotebookError(f"notebook {name} does not exist") from None
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{name} is not a valid Jupyter notebook: {exc}") from None
    except OSError as exc:
        raise NotebookError(f"notebook {name} cannot be read: {exc.strerror}") from None


def code_cells_of(text: str, name: str) -> list[Cell]:
    """The code cells of a notebook's text, validated with nbformat; ``name`` is for the messages."""
    import nbformat

    try:
        nb = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]  # nbformat has no annotations
        nbformat.validate(nb)
    except (ValueError, nbformat.ValidationError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotebookError(f"{name} is not a valid Jupyter notebook: {first}") from None
    return [Cell(i + 1, _text(c.source)) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def _text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


@dataclass(frozen=True)
class MethodDefinition:
    cell: Cell
    function: ast.FunctionDef

    @property
    def signature(self) -> str:
        return f"def {self.function.name}({ast.unparse(self.function.args)})"


def top_level_functions(cell: Cell) -> list[ast.FunctionDef]:
    """The functions a code cell defines at top level (none when it is not valid Python, magics aside)."""
    return list(_top_level_functions(cell.source))


@functools.lru_cache(maxsize=4096)
def _top_level_functions(source: str) -> tuple[ast.FunctionDef, ...]:
    # Cached: the tasks of a project call methods of the same few notebooks, and each is checked once per task.
    try:
        tree = notebook_child.parse(notebook_child.mask_magics(source)[0])
    except SyntaxError:
        return ()
    return tuple(node for node in tree.body if isinstance(node, ast.FunctionDef))


def find_method(cells: list[Cell], method: str) -> MethodDefinition | None:
    """The last code cell that defines ``method`` at top level (a later definition replaces an earlier one,
    as when the notebook is run top to bottom). Magic lines do not stop the search."""
    found: MethodDefinition | None = None
    for cell in cells:
        for node in top_level_functions(cell):
            if node.name == method:
                found = MethodDefinition(cell, node)
    return found


def unparsable_cells(cells: list[Cell]) -> list[tuple[int, SyntaxError]]:
    out: list[tuple[int, SyntaxError]] = []
    for cell in cells:
        try:
            notebook_child.parse(notebook_child.mask_magics(cell.source)[0])
        except SyntaxError as exc:
            out.append((cell.number, exc))
    return out


def argument_problems(definition: MethodDefinition, args: dict[str, Any]) -> list[str]:
    """What is wrong with calling the method with ``args`` as keywords: keys it does not accept (unless it has
    ``**kwargs``) and parameters without a default that ``args`` does not give."""
    spec = definition.function.args
    keyword = [a.arg for a in spec.args] + [a.arg for a in spec.kwonlyargs]
    problems = []
    if spec.kwarg is None:
        problems += [f"args sets '{key}', which {definition.signature} does not accept"
                     for key in args if key not in keyword]
    positional = spec.args
    no_default = [a.arg for a in positional[:len(positional) - len(spec.defaults)]]
    no_default += [a.arg for a, d in zip(spec.kwonlyargs, spec.kw_defaults) if d is None]
    problems += [f"{definition.signature} needs '{name}', which args does not set"
                 for name in no_default if name not in args]
    positional_only = [a.arg for a in spec.posonlyargs]
    problems += [f"{definition.signature} takes '{name}' by position only; args are passed by name"
                 for name in positional_only]
    return problems


def program(path: str, *, name: str, method: str, full_notebook: bool, args: dict[str, Any],
            version: str = "") -> Program:
    """The cells to run for one task execution; NotebookError when the notebook cannot give them."""
    cells = read_code_cells(path, name)
    definition = find_method(cells, method)
    if definition is None:
        raise NotebookError(no_method_message(name, method, cells))
    chosen = tuple(cells) if full_notebook else (definition.cell,)
    return Program(notebook=name, method=method, cells=chosen, args=args, version=version)


def no_method_message(name: str, method: str, cells: list[Cell]) -> str:
    text = f"no code cell of {name} defines `def {method}(...)` at top level"
    broken = unparsable_cells(cells)
    if broken:
        text += "; cells that are not valid Python: " + ", ".join(
            f"cell {n}" + (f" line {e.lineno}" if e.lineno else "") + f" ({e.msg})" for n, e in broken)
    return text


def version(path: str) -> str:
    """The short git commit that last changed the notebook (``-dirty`` when the file differs from it), or
    ``sha256:<12 hex>`` of its content when it is not in a git checkout."""
    folder, base = os.path.split(os.path.abspath(path))
    try:
        found = subprocess.run(["git", "-C", folder, "log", "-n1", "--format=%h", "--", base],
                               check=False, capture_output=True, text=True, timeout=30)
        commit = found.stdout.strip() if found.returncode == 0 else ""
        if commit:
            clean = subprocess.run(["git", "-C", folder, "diff", "--quiet", "HEAD", "--", base],
                                   check=False, capture_output=True, timeout=30).returncode == 0
            return commit if clean else f"{commit}-dirty"
    except (OSError, subprocess.TimeoutExpired):  # no git here: fall back to the content
        pass
    with open(path, "rb") as fh:
        return "sha256:" + hashlib.sha256(fh.read()).hexdigest()[:12]


@dataclass(frozen=True)
class Outcome:
    returncode: int
    result: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.error


def start(prog: Program, *, python: str, workspace: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start the child in ``workspace`` (the project files) in a new process group; output is one stream."""
    program_path = os.path.join(workspace, PROGRAM_FILE)
    os.makedirs(os.path.dirname(program_path), exist_ok=True)
    with open(program_path, "w", encoding="utf-8") as fh:
        fh.write(prog.to_json())
    result_path = os.path.join(workspace, RESULT_FILE)
    if os.path.exists(result_path):
        os.remove(result_path)
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONUNBUFFERED"] = "1"
    # stdin is nothing: the worker's own stdin is not the task's to read (input() gets EOF at once).
    return subprocess.Popen([python, RUNNER, program_path, result_path], cwd=workspace, env=child_env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def finish(process: subprocess.Popen[bytes], workspace: str, log: Callable[[str], Any] = print) -> Outcome:
    """Stream the child's output to ``log`` until it exits, then read its result."""
    assert process.stdout is not None
    for raw in process.stdout:
        log(raw.decode(errors="replace").rstrip("\n"))
    code = process.wait()
    try:
        with open(os.path.join(workspace, RESULT_FILE), encoding="utf-8") as fh:
            record = json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        record = None
    return outcome(code, record)


def outcome(code: int, record: dict[str, Any] | None) -> Outcome:
    """The outcome of an execution from its exit code and the result record it wrote (None: it wrote none);
    the same for a local child and an executor pod (whose record comes back in its log)."""
    if record is None:
        return Outcome(code, error=f"the notebook process exited with code {code} before reporting a result")
    if record.get("status") != "ok":
        return Outcome(code or 1, error=str(record.get("error", "")))
    return Outcome(code, result=record.get("result"))


def run(prog: Program, *, python: str, workspace: str, env: dict[str, str] | None = None,
        log: Callable[[str], Any] = print, timeout: float | None = None) -> Outcome:
    """Run one program to its end; past ``timeout`` seconds the whole process group is stopped."""
    log(f"taskspec: running {prog.method}() from {prog.notebook} (version {prog.version or 'unknown'}, "
        f"cells {', '.join(str(c.number) for c in prog.cells)})")
    process = start(prog, python=python, workspace=workspace, env=env)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        processes.stop(process)

    timer = threading.Timer(timeout, expire) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        outcome = finish(process, workspace, log)
    finally:
        if timer:
            timer.cancel()
    if timed_out.is_set():
        return Outcome(outcome.returncode or -signal.SIGTERM, error=f"{prog.notebook}: {prog.method}() did not "
                       f"finish within {timeout:g} s and was stopped")
    return outcome
