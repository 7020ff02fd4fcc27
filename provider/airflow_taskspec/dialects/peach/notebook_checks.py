"""What a PEACH user gets wrong about a task's notebook, said in their terms: a JSON file that is not a
notebook, an entry point bound by something other than a top-level ``def`` (an ``async def``, a class, a lambda, or a
``def`` inside an ``if``, a function or a class): the loop calls only top-level functions."""

from __future__ import annotations

import ast
import hashlib
import json
import warnings

from ...runtime import notebook, notebook_child

# Notebooks already read, by content: the tasks of an organisation (and the metadata loop) mostly share a few
# notebooks, and nbformat's validation is the slow part of checking one. Bounded; entries never go stale.
_READ: dict[tuple[bytes, str], tuple[notebook.Cell, ...]] = {}
_KEEP = 512


def read_cells(path: str, name: str) -> list[notebook.Cell]:
    """The notebook's code cells; NotebookError when it cannot be read. nbformat's warning about cells
    without an id (notebooks saved by Jupyter before 2021) is not the user's problem: the cells are read."""
    text = notebook.notebook_text(path, name)
    key = (hashlib.blake2b(text.encode(), digest_size=20).digest(), name)
    if key not in _READ:
        if len(_READ) >= _KEEP:
            _READ.clear()
        _READ[key] = tuple(_cells(text, name))
    return list(_READ[key])


def _cells(text: str, name: str) -> list[notebook.Cell]:
    reason = not_a_notebook(text)
    if reason is not None:
        raise notebook.NotebookError(f"{name} is not a Jupyter notebook: {reason}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cell is missing an id field")
        return notebook.code_cells_of(text, name)


def not_a_notebook(text: str) -> str | None:
    """Why the text is not a notebook, in a user's words (nbformat's speak of format versions); None when it
    looks like a notebook (nbformat then checks it)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"it is not valid JSON ({exc.msg} at its line {exc.lineno}, column {exc.colno})"
    except ValueError:
        return None
    if not isinstance(data, dict):
        return f"it is JSON, but a {type(data).__name__} where a notebook is an object with a `cells` list"
    if not isinstance(data.get("cells"), list):
        keys = ", ".join(f"'{k}'" for k in list(data)[:5])
        return f"it is JSON, but has no `cells` list (its keys: {keys or 'none'})"
    return None


_BLOCKS = {ast.If: "an `if`", ast.For: "a `for` loop", ast.While: "a `while` loop",
           ast.With: "a `with` block", ast.Try: "a `try` block", ast.FunctionDef: "another function",
           ast.ClassDef: "a class"}


def misdefinition(cells: list[notebook.Cell], method: str) -> str | None:
    """How ``method`` is written when it is not a top-level ``def`` of a code cell, in words (an ``async def``, a
    class, an assignment such as ``method = lambda ...``, an import, or a ``def`` inside a block); None when
    the notebook does not bind the name at all."""
    trees = []
    for cell in cells:
        try:
            trees.append((cell, notebook_child.parse(notebook_child.mask_magics(cell.source)[0])))
        except SyntaxError:
            continue
    for cell, tree in trees:
        for top in tree.body:
            binding = _top_level_binding(top, method)
            if binding is not None:
                return (f"cell {cell.number} binds `{method}` at its line {top.lineno} with {binding}; the loop "
                        f"calls a plain function: write `def {method}(...)` at the top level of the cell")
    for cell, tree in trees:
        for top in tree.body:
            for node in ast.walk(top):
                if node is not top and isinstance(node, ast.FunctionDef) and node.name == method:
                    where = _BLOCKS.get(type(top), "a block")
                    return (f"cell {cell.number} defines `def {method}` at its line {node.lineno}, inside "
                            f"{where} (line {top.lineno}); move the definition to the top level of the cell")
    return None


def _top_level_binding(node: ast.stmt, name: str) -> str | None:
    """What, other than a plain ``def``, a top-level statement binds ``name`` with."""
    if isinstance(node, ast.AsyncFunctionDef) and node.name == name:
        return "`async def` (a coroutine function)"
    if isinstance(node, ast.ClassDef) and node.name == name:
        return "a `class`"
    if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name.split(".")[0]) == name
                                                              for a in node.names):
        return "an import"
    targets = (node.targets if isinstance(node, ast.Assign) else
               [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
    if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
        return "an assignment"
    return None
