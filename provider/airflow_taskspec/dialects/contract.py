"""What a dialect is: the contract between one input format and the dialect-blind driver (``resolve``).

A dialect claims files by name (``patterns``), reads one file into a picklable parsed result (``read``; the
driver caches it by content hash), says which group(s) the file belongs to (``group_keys``), and turns one
group of files into workflows and diagnostics (``normalise``). A group is what one normalisation sees at once:
for AME the one file of a project (key: the project name); for a format that merges files, every file with
the same key (PEACH: the codops). A file may belong to several groups: a PEACH file belongs to its codops'
group and to the one group of the shared metadata loop, so ``peach.<codops>`` and ``peach.metadata`` are each
normalised from the files they need, and a change to one file recompiles exactly the groups holding it.

Errors are diagnostics, not exceptions, wherever the rest can still be built: an error in one task must not
drop the other tasks of the same file. ``read`` raises ``SpecError`` only when nothing of the file can be used.
Anything else a dialect raises is caught by the driver and reported as an error of the files concerned.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from .. import ir
from ..errors import Diagnostic

P = TypeVar("P")


@dataclass(frozen=True)
class FilePattern:
    """Files a dialect reads, as globs on the path below a project folder: ``/`` separates folders, and each
    part is an fnmatch pattern for one name (``peach.conf/*/*.yaml`` is a file one folder below ``peach.conf``).
    As in the shell's and Python's globs, a wildcard does not match a leading dot: ``peach.conf/.draft.yaml`` and
    the ``._tf.yaml`` files macOS leaves on shared drives are not read, as hidden folders are not walked.

    With ``first_only`` the globs are alternatives in order of preference: a project folder's file matching the
    earliest glob is read, the others are ignored with a warning (AME: ``ame.yaml`` over ``ame.yml``).
    """

    globs: tuple[str, ...]
    first_only: bool = False

    def match(self, path: str) -> tuple[int, str] | None:
        """(index of the glob, project folder) when ``path`` (``/``-separated) is one of these files."""
        parts = path.split("/")
        for i, glob in enumerate(self.globs):
            pattern = glob.split("/")
            if len(parts) >= len(pattern) and all(
                _matches(name, p) for name, p in zip(parts[-len(pattern):], pattern)
            ):
                return i, "/".join(parts[:-len(pattern)])
        return None


def _matches(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern) and (pattern.startswith(".") or not name.startswith("."))


def project_folder(path: str, patterns: tuple[FilePattern, ...]) -> str:
    """The project folder of a file the patterns claim (the folder the globs start from), as an absolute path."""
    absolute = os.path.abspath(path)
    for pattern in patterns:
        found = pattern.match(absolute.replace(os.sep, "/"))
        if found is not None:
            return found[1].replace("/", os.sep) or os.sep
    return os.path.dirname(absolute)


@dataclass(frozen=True)
class SpecFile(Generic[P]):
    path: str
    parsed: P


@dataclass(frozen=True)
class Group(Generic[P]):
    """The files of one group key, in discovery order (sorted by path)."""

    key: str
    files: tuple[SpecFile[P], ...]


class Lookup(Protocol[P]):
    """The other groups of the same dialect in the DAG folder. What a normalisation looks up is recorded, so its
    cached result is reused only while those groups are unchanged."""

    def group(self, key: str) -> Group[P] | None: ...

    def keys(self) -> list[str]:
        """Every group key of this dialect, sorted (for did-you-mean hints)."""
        ...


@dataclass
class Normalised:
    """What one group compiles to. ``diagnostics`` maps each spec file of the group to its errors and warnings
    (a diagnostic may point into another file, e.g. a template it uses); ``files`` names the other files the
    result was derived from (project files checked, notebooks read): a change to one of them recompiles."""

    workflows: list[ir.Workflow]
    diagnostics: dict[str, list[Diagnostic]] = field(default_factory=dict)
    files: tuple[str, ...] = ()


class Dialect(Protocol[P]):
    """One input format. Register an instance in ``dialects.REGISTRY``."""

    name: str  # also the choice of `taskspec schema NAME`
    patterns: tuple[FilePattern, ...]

    def read(self, path: str, text: str) -> P:
        """The parsed file (picklable), or SpecError when nothing of it can be used."""
        ...

    def group_keys(self, parsed: P) -> tuple[str, ...]:
        """The group(s) this file belongs to."""
        ...

    def groups_of_dag_id(self, dag_id: str) -> tuple[str, ...]:
        """The group keys that could produce ``dag_id``, so that running one task compiles only those groups."""
        ...

    def normalise(self, group: Group[P], lookup: Lookup[P], only_dag_id: str | None = None) -> Normalised:
        """The group's workflows (only ``only_dag_id``'s when given) and diagnostics."""
        ...

    def json_schema(self) -> dict[str, Any]: ...
