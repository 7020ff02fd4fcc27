"""Runs a notebook entry point inside the task's own Python environment.

    python notebook_child.py PROGRAM.json RESULT.json

Run by file path with the task environment's interpreter, which has neither Airflow nor this package: so this
file imports only the standard library and nothing from ``airflow_taskspec``. The worker (``notebook.py``)
has already picked the cells; this file executes them in one namespace, calls ``method(**args)`` and writes
``{"status": "ok", "result": ...}`` or ``{"status": "error", "error": traceback}`` to RESULT.json.

IPython magics (``%time``, ``%%bash``, ``!pip ...``) run through IPython when the environment has it;
otherwise each one is skipped with a warning line, so a notebook written for Jupyter still runs.
"""

from __future__ import annotations

import ast
import json
import linecache
import os
import re
import sys
import traceback
from typing import Any

_LINE_MAGIC = re.compile(r"^(\s*)[%!]")
# `files = !ls`, `t = %timeit -o f()`: an assignment whose value is a magic; never valid Python otherwise.
_ASSIGNED_MAGIC = re.compile(r"^(\s*)[A-Za-z_][\w.,\s]*=\s*[%!]")
_CELL_TAG = "<taskspec-cell-"
_HERE = os.path.abspath(__file__)


def parse(source: str) -> ast.Module:
    """``ast.parse``, where code nested too deeply for Python's parser (a few thousand levels: its recursion
    limit, or its stack) is a SyntaxError as well, as any other code Python cannot run."""
    try:
        return ast.parse(source)
    except (RecursionError, MemoryError):
        raise SyntaxError("the code is nested too deeply for Python's parser") from None


def mask_magics(source: str) -> tuple[str, list[tuple[int, str]]]:
    """The cell as plain Python with every magic line replaced by ``pass`` (line numbers kept), and the
    (line number, text) of each magic replaced. A cell that parses as Python is returned unchanged, so a
    docstring line starting with ``!`` is never touched."""
    try:
        parse(source)
        return source, []
    except SyntaxError:
        pass
    lines = source.split("\n")
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("%%"):  # a cell magic owns the whole cell
        return "\n" * (len(lines) - 1), [(lines.index(first) + 1, first.strip())]
    skipped: list[tuple[int, str]] = []
    masked: list[str] = []
    for number, line in enumerate(lines, start=1):
        match = _LINE_MAGIC.match(line) or _ASSIGNED_MAGIC.match(line)
        if match:
            masked.append(match.group(1) + "pass")
            skipped.append((number, line.strip()))
        else:
            masked.append(line)
    return "\n".join(masked), skipped


def _cell_filename(number: int) -> str:
    return f"{_CELL_TAG}{number}>"


def _cell_of(filename: str) -> int | None:
    if filename.startswith(_CELL_TAG) and filename.endswith(">"):
        return int(filename[len(_CELL_TAG):-1])
    return None


def _where(notebook: str, filename: str, lineno: int | None) -> str:
    cell = _cell_of(filename)
    if cell is None:
        return f'File "{filename}", line {lineno}'
    return f'File "{notebook}", cell {cell}, line {lineno}'


def format_exception(exc: BaseException, notebook: str, _seen: frozenset[int] = frozenset()) -> str:
    """A traceback that names the notebook, the cell number and the line in the cell, with the source line;
    frames of this runner are left out (they are not the user's code). Chained exceptions come first, as
    Python prints them."""
    seen = _seen | {id(exc)}
    earlier, link = None, ""
    if exc.__cause__ is not None:
        earlier, link = exc.__cause__, "The above exception was the direct cause of the following exception:"
    elif exc.__context__ is not None and not exc.__suppress_context__:
        earlier, link = exc.__context__, "During handling of the above exception, another exception occurred:"
    if earlier is None or id(earlier) in seen:
        return _format_one(exc, notebook)
    return f"{format_exception(earlier, notebook, seen)}\n\n{link}\n\n{_format_one(exc, notebook)}"


def _format_one(exc: BaseException, notebook: str) -> str:
    lines: list[str] = []
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) != _HERE]
    if frames:
        lines.append("Traceback (most recent call last):")
    for frame in frames:
        lines.append(f"  {_where(notebook, frame.filename, frame.lineno)}, in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    if isinstance(exc, SyntaxError) and exc.filename and _cell_of(exc.filename) is not None:
        lines.append(f"  {_where(notebook, exc.filename, exc.lineno)}")
        if exc.text:
            lines.append(f"    {exc.text.strip()}")
        lines.append(f"{type(exc).__name__}: {exc.msg}")
    else:
        lines.extend(line.rstrip("\n") for line in traceback.format_exception_only(type(exc), exc))
    return "\n".join(lines)


def _ipython_shell() -> Any:
    try:
        from IPython.core.interactiveshell import InteractiveShell
    except ImportError:
        return None
    return InteractiveShell.instance()


def _code_of(cell: dict[str, Any], shell: Any, notebook: str) -> str:
    source: str = cell["source"]
    if shell is not None:
        return str(shell.transform_cell(source))
    code, skipped = mask_magics(source)
    for line, text in skipped:
        print(f"taskspec: warning: {notebook} cell {cell['cell']}, line {line}: skipped the IPython magic "
              f"`{text}` (IPython is not installed in this task's environment; add `ipython` to its "
              "dependencies to run magics)", flush=True)
    return code


def run(program: dict[str, Any]) -> dict[str, Any]:
    """Execute the program's cells, then its method; the result record for RESULT.json."""
    notebook = program["notebook"]
    shell = _ipython_shell()
    namespace: dict[str, Any] = shell.user_ns if shell is not None else {}
    namespace.update({"__name__": "__main__", "__builtins__": __builtins__})
    for cell in program["cells"]:
        filename = _cell_filename(cell["cell"])
        source = cell["source"]
        # The traceback shows the user's line as written in the notebook.
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True) or [""], filename)
        try:
            exec(compile(_code_of(cell, shell, notebook), filename, "exec"), namespace)  # noqa: S102 - running the notebook is the point
        except BaseException as exc:  # noqa: BLE001 - any failure of user code fails the task, with its cell
            return {"status": "error", "error": f"{notebook}: cell {cell['cell']} failed\n"
                    + format_exception(exc, notebook)}
    method = namespace.get(program["method"])
    if not callable(method):
        return {"status": "error", "error": f"{notebook}: no function named '{program['method']}' was defined by "
                "the cells that ran"}
    try:
        value = method(**program["args"])
    except BaseException as exc:  # noqa: BLE001
        return {"status": "error", "error": f"{notebook}: {program['method']}() failed\n"
                + format_exception(exc, notebook)}
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        print(f"taskspec: warning: {program['method']}() returned a {type(value).__name__}, which is not "
              "JSON-serialisable; it is not kept as the task's result", flush=True)
        return {"status": "ok", "result": None, "unserialisable": type(value).__name__}
    return {"status": "ok", "result": value}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python notebook_child.py PROGRAM.json RESULT.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as fh:
        program = json.load(fh)
    sys.path.insert(0, os.getcwd())  # the project folder: notebooks import their helper modules from it
    outcome = run(program)
    with open(argv[2], "w", encoding="utf-8") as fh:
        json.dump(outcome, fh)
    if outcome["status"] != "ok":
        print(outcome["error"], file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
