"""Writing real .ipynb files for tests (nbformat v4, as Jupyter saves them)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import v4


def write_notebook(path: Path, cells: list[str | tuple[str, str]]) -> Path:
    """Each item is a code cell's source, or ("markdown", text) for a markdown cell."""
    nb = v4.new_notebook()
    for cell in cells:
        if isinstance(cell, tuple):
            nb.cells.append(v4.new_markdown_cell(cell[1]))
        else:
            nb.cells.append(v4.new_code_cell(cell))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        nbformat.write(nb, fh)
    return path
