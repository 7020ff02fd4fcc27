"""Everything that needs more than one file: discovery, per-file isolation, cross-project lookups, clashes.

``compile_paths`` is the one entry point for the loader and the CLI: a broken file never hides another
file's workflows; it is reported in ``Compilation.errors`` instead.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from . import ir
from .dialects import ame
from .errors import Diagnostic, Severity, SpecError

IGNORE_FILE = ".airflowignore"


@dataclass
class Compilation:
    workflows: list[ir.Workflow] = field(default_factory=list)
    errors: dict[str, SpecError] = field(default_factory=dict)  # spec file -> what is wrong with it
    warnings: list[Diagnostic] = field(default_factory=list)

    def diagnostics(self) -> list[Diagnostic]:
        found = [d for err in self.errors.values() for d in err.diagnostics] + self.warnings
        return sorted(found, key=lambda d: (d.file, d.line, d.column, d.severity.value))


def _ignore_patterns(folder: str) -> list[str]:
    path = os.path.join(folder, IGNORE_FILE)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    # gitignore-style globs, as Airflow's default `dag_ignore_file_syntax = glob` reads them.
    for pattern in patterns:
        p = pattern.strip("/")
        if fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p + "/*") or any(
            fnmatch.fnmatch(part, p) for part in rel.split("/")
        ):
            return True
    return False


def discover(root: str) -> Iterator[str]:
    """Every AME spec file below ``root`` (or ``root`` itself), honouring ``.airflowignore`` files."""
    if os.path.isfile(root):
        yield root
        return
    patterns_by_dir: dict[str, list[str]] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        patterns = patterns_by_dir.get(os.path.dirname(folder), []) + _ignore_patterns(folder)
        patterns_by_dir[folder] = patterns
        rel_folder = os.path.relpath(folder, root)
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"
                   and not _ignored(os.path.normpath(os.path.join(rel_folder, d)), patterns)]
        names = [n for n in ame.SPEC_FILE_NAMES if n in files]
        if not names:
            continue
        chosen = names[0]  # ame.yaml wins over ame.yml
        if _ignored(os.path.normpath(os.path.join(rel_folder, chosen)), patterns):
            continue
        yield os.path.join(folder, chosen)


def _duplicate_ids(workflows: list[ir.Workflow]) -> tuple[list[ir.Workflow], dict[str, SpecError]]:
    first: dict[str, ir.Workflow] = {}
    errors: dict[str, SpecError] = {}
    kept: list[ir.Workflow] = []
    for wf in workflows:
        if wf.dag_id in first:
            other = first[wf.dag_id].source_file
            errors.setdefault(wf.source_file, SpecError([])).diagnostics.append(Diagnostic(
                wf.source_file, 1, 1, f"DAG id '{wf.dag_id}' is also defined by {other}",
                "give one of the two projects another `name`"))
            continue
        first[wf.dag_id] = wf
        kept.append(wf)
    return kept, errors


def compile_paths(paths: Iterable[str], only_dag_id: str | None = None) -> Compilation:
    result = Compilation()
    workflows: list[ir.Workflow] = []
    for root in paths:
        for spec in discover(root):
            try:
                workflows.extend(ame.compile_file(spec))
            except SpecError as exc:
                result.errors[spec] = exc
            except OSError as exc:
                result.errors[spec] = SpecError.single(spec, 1, 1, f"cannot read the file: {exc.strerror}")
    result.workflows, clashes = _duplicate_ids(workflows)
    for spec, err in clashes.items():
        result.errors.setdefault(spec, SpecError([])).diagnostics.extend(err.diagnostics)
    result.warnings = [d for d in result.warnings if d.severity is Severity.WARNING]
    return result
