"""What a PEACH user gets wrong about a task's notebook, said in their terms: a JSON file that is not a
notebook, an entry point defined inside an ``if``, a function or a class (the loop calls only top-level functions)."""

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


def nested_definition(cells: list[notebook.Cell], method: str) -> str | None:
    """Where ``def method`` is written below the top level of a code cell, in words; None when it is not."""
    for cell in cells:
        try:
            tree = notebook_child.parse(notebook_child.mask_magics(cell.source)[0])
        except SyntaxError:
            continue
        for top in tree.body:
            for node in ast.walk(top):
                if node is not top and isinstance(node, ast.FunctionDef) and node.name == method:
                    where = _BLOCKS.get(type(top), "a block")
                    return (f"cell {cell.number} defines `def {method}` at its line {node.lineno}, inside "
                            f"{where} (line {top.lineno}); move the definition to the top level of the cell")
    return None
