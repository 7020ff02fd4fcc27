"""EBU PEACH: `peach.yaml` or `peach.conf/*.yaml` (and one folder below) in a project folder; files merge by
codops into one continuous loop DAG per organisation, plus the shared metadata loop ``peach.metadata``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ... import ir
from ...errors import Diagnostic, Severity
from ..contract import FilePattern, Group, Lookup, Normalised, project_folder
from .names import DAG_PREFIX, METADATA

if TYPE_CHECKING:
    from . import parse

# The modules that read and normalise (pydantic models, notebook checks) are imported by the methods that need
# them: a parse on a warm compile cache calls none of them.

PATTERNS = (
    FilePattern(("peach.yaml",)),
    FilePattern(("peach.conf/*.yaml", "peach.conf/*.yml", "peach.conf/*/*.yaml", "peach.conf/*/*.yml")),
)
METADATA_GROUP = METADATA
"""The group holding every PEACH file, normalised into ``peach.metadata``."""
NO_ORGANISATION = "!"
"""Group key prefix of files without a valid codops: ``!`` + the codops as written (or + the path when there
is none). Such a group is checked like an organisation, and builds nothing."""


class PeachDialect:
    name = "peach"
    patterns: tuple[FilePattern, ...] = PATTERNS

    def read(self, path: str, text: str) -> parse.ParsedFile:
        from . import parse

        return parse.read(path, text, project_folder(path, PATTERNS))

    def group_keys(self, parsed: parse.ParsedFile) -> tuple[str, ...]:
        if parsed.blocking:
            return (NO_ORGANISATION + (parsed.codops or parsed.file),)
        return (parsed.codops, METADATA_GROUP)

    def groups_of_dag_id(self, dag_id: str) -> tuple[str, ...]:
        if not dag_id.startswith(DAG_PREFIX):
            return ()
        return (dag_id.removeprefix(DAG_PREFIX),)

    def normalise(self, group: Group[parse.ParsedFile], lookup: Lookup[parse.ParsedFile],
                  only_dag_id: str | None = None) -> Normalised:
        from . import normalise

        files = [f.parsed for f in group.files]
        workflows: list[ir.Workflow | None]
        if group.key.startswith(NO_ORGANISATION):  # checked in full, built not at all
            plans = [normalise.plan(files[0].codops, files)]
            workflows = []
            for f in files:
                plans[0].diagnostics[f.file] = list(f.blocking) + plans[0].diagnostics.get(f.file, [])
        elif group.key == METADATA_GROUP:
            wf, plans = normalise.metadata_loop(files)
            workflows = [wf]
            for warning in _both_ways(files):
                plans[0].diagnostics.setdefault(warning.file, []).append(warning)
        else:
            wf, one = normalise.organisation(group.key, files)
            workflows, plans = [wf], [one]
        diagnostics: dict[str, list[Any]] = {}
        notebooks: set[str] = set()
        for p in plans:
            for file, found in p.diagnostics.items():
                diagnostics.setdefault(file, []).extend(found)
            notebooks |= p.notebooks
        built = [w for w in workflows if w is not None and (only_dag_id is None or w.dag_id == only_dag_id)]
        return Normalised(built, diagnostics, tuple(sorted(notebooks)))

    def json_schema(self) -> dict[str, Any]:
        from . import schema

        return schema.json_schema()


def _both_ways(files: list[parse.ParsedFile]) -> list[Diagnostic]:
    """A warning at each `peach.yaml` whose project also has files in `peach.conf/`: PEACH registers a
    project's tasks in one of the two ways, so a task may be lost when the project moves to PEACH. taskspec
    reads both."""
    conf = {f.project for f in files if os.path.basename(f.file) != "peach.yaml"}
    message = ("this project defines tasks both in peach.yaml and in peach.conf/; PEACH registers a project's "
               "tasks either from peach.yaml or from peach.conf/ (taskspec reads both)")
    hint = "move the tasks of peach.yaml into a file of peach.conf/, or the reverse, and delete the other"
    return [Diagnostic(f.file, 1, 1, message, hint, Severity.WARNING)
            for f in files if os.path.basename(f.file) == "peach.yaml" and f.project in conf]


DIALECT = PeachDialect()
