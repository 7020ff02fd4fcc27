"""AME (``ame.yaml`` / ``ame.yml``): one file per project folder, one group per project name.

``read`` (YAML text -> ``ParsedSpec``: generation check, legacy keys, pydantic models), then ``normalise`` (one
project -> Workflows), which looks up the other projects of the DAG folder for cross-project templates and
data sets. Modules: ``models`` (the format), ``legacy`` (older generations), ``parse``, ``templates`` (how tasks
combine), ``normalise``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ...errors import Diagnostic
from ..contract import FilePattern, Group, Lookup, Normalised

if TYPE_CHECKING:
    from .parse import ParsedSpec

SPEC_FILE_NAMES = ("ame.yaml", "ame.yml")  # in order of preference when a folder has both

__all__ = ["DIALECT", "SPEC_FILE_NAMES", "ParsedSpec", "asset_uri", "normalise", "read"]

_LAZY = {"read": "parse", "ParsedSpec": "parse", "normalise": "normalise", "asset_uri": "normalise",
         "Project": "models"}
"""Names this package exports from its modules, imported on first use: a parse on a warm compile cache reads
no YAML and normalises nothing, so it needs neither the pydantic models nor the normalisation."""


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def _export(name: str) -> Any:
    """``name`` as this package exports it now (a test may have replaced it). Importing the module ``normalise``
    binds the package's attribute ``normalise`` to that module, so a module found there is looked up again."""
    value = globals().get(name)
    return __getattr__(name) if value is None or isinstance(value, ModuleType) else value


class _ProjectNames:
    """The folder's project names, asked for only when an error hint lists them (which then depends on them)."""

    def __init__(self, lookup: Lookup[ParsedSpec]) -> None:
        self.lookup = lookup

    def __iter__(self) -> Iterator[str]:
        names = self.lookup.keys()  # a Lookup's method, not a dict's
        return iter(k for k in names if not k.startswith(UNNAMED))


UNNAMED = "!unnamed:"
"""Group key prefix of a file whose project name is bad: it is a group of its own (``UNNAMED`` + its path)."""


class AmeDialect:
    name = "ame"
    patterns: tuple[FilePattern, ...] = (FilePattern(SPEC_FILE_NAMES, first_only=True),)

    def read(self, path: str, text: str) -> ParsedSpec:
        reader: Callable[[str, str], ParsedSpec] = _export("read")
        return reader(path, text)

    def group_keys(self, parsed: ParsedSpec) -> tuple[str, ...]:
        return (UNNAMED + parsed.doc.file,) if parsed.blocking else (parsed.project.name,)

    def groups_of_dag_id(self, dag_id: str) -> tuple[str, ...]:
        return (dag_id.split(".", 1)[0],)  # `<project>.<task>`, `<project>.<model>.training`

    def normalise(self, group: Group[ParsedSpec], lookup: Lookup[ParsedSpec],
                  only_dag_id: str | None = None) -> Normalised:
        first, *others = group.files

        def project(name: str) -> ParsedSpec | None:
            found = lookup.group(name)
            return found.files[0].parsed if found is not None else None

        # Looked up through the package at call time, so tests can observe it.
        normaliser: Callable[..., Normalised] = _export("normalise")
        result = normaliser(first.parsed, project, _ProjectNames(lookup), only_dag_id)
        if first.parsed.blocking:  # checked in full, built not at all
            result.workflows = []
            result.diagnostics[first.path] = first.parsed.blocking + result.diagnostics.get(first.path, [])
        for other in others:  # a project name is one project: the first file (in path order) has it
            m = other.parsed.doc.mark(("name",))
            result.diagnostics[other.path] = [Diagnostic(
                other.path, m.line, m.column, f"project name '{group.key}' is also used by {first.path}",
                "give one of the two projects another `name`; DAG ids and cross-project references use it")]
        return result

    def json_schema(self) -> dict[str, Any]:
        from .. import json_schema

        return json_schema.from_models(
            _export("Project"), "AME task file (ame.yaml) as accepted by taskspec",
            "YAML tags are written as the property '!tag' (e.g. executor: !poetry -> {\"!tag\": \"poetry\"}). "
            "See docs/ame.md.")


DIALECT = AmeDialect()
