"""The dialect-blind driver: discover, read (cached), group, normalise, link, DAG-id clashes.

What a file means belongs to its dialect (``dialects.REGISTRY``); this module only knows the contract
(``dialects.contract``). ``compile_paths`` is the one entry point for the loader and the CLI. Nothing that goes
wrong in one file hides another file's workflows: reading and normalising are caught per file (per group), for
every exception type, and reported in ``Compilation.errors`` under the file's name.

Compiled files are cached on disk (``compile_cache``): a file's parsed result by content hash, and the result
of each group with what it used (the content hashes of its files and of the other groups it looked up, the
project files it checked). A cached result is used only while all of these are unchanged.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import airflow_ids, config, ir
from .compile_cache import CompileCache, file_digest
from .dialects import REGISTRY, Dialect, Group, SpecFile
from .errors import Diagnostic, Severity, SpecError, dedupe
from .runtime.files import NotAFile, read_regular_file

IGNORE_FILE = ".airflowignore"


@dataclass
class Compilation:
    workflows: list[ir.Workflow] = field(default_factory=list)
    errors: dict[str, SpecError] = field(default_factory=dict)  # spec file -> what is wrong with it
    warnings: list[Diagnostic] = field(default_factory=list)

    def diagnostics(self) -> list[Diagnostic]:
        found = [d for err in self.errors.values() for d in err.diagnostics] + self.warnings
        unique = {(d.file, d.line, d.column, d.message, d.severity): d for d in found}
        return sorted(unique.values(), key=lambda d: (d.file, d.line, d.column, d.severity.value))

    def add(self, file: str, diagnostics: Iterable[Diagnostic]) -> None:
        """Report diagnostics for ``file``: errors under ``errors[file]``, warnings in ``warnings``; once each, as a
        file in two groups may be reported by both."""
        diagnostics = list(diagnostics)
        known = list(self.errors[file].diagnostics) if file in self.errors else []
        errors = [d for d in diagnostics if d.severity is Severity.ERROR and d not in known]
        self.warnings.extend(d for d in diagnostics if d.severity is not Severity.ERROR and d not in self.warnings)
        if errors:
            # A new SpecError: the one already here may be a cached entry's, which must stay as it was read.
            self.errors[file] = SpecError(known + dedupe(errors))


def _bug(file: str, doing: str, exc: BaseException) -> Diagnostic:
    return Diagnostic(file, 1, 1, f"taskspec failed {doing} this file: {type(exc).__name__}: {exc}",
                      "this is a bug in taskspec, not in the file; please report it with the file. Other files are "
                      "not affected")


# -- discovery -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Found:
    dialect: Dialect[Any]
    file: str


def _walk(root: str) -> Iterator[str]:
    """Every file below ``root`` that ``.airflowignore`` files keep, matched as Airflow itself matches them."""
    from airflow._shared.module_loading import find_path_from_directory
    from airflow.configuration import conf

    syntax = conf.get_mandatory_value("core", "DAG_IGNORE_FILE_SYNTAX", fallback="glob")
    with warnings.catch_warnings():
        # Airflow's own use of pathspec warns on every .airflowignore; `taskspec list` prints to stdout.
        warnings.filterwarnings("ignore", message="GitWildMatchPattern", category=DeprecationWarning)
        paths = list(find_path_from_directory(root, IGNORE_FILE, syntax))
    for path in paths:
        folders = os.path.relpath(path, root).split(os.sep)[:-1]
        if not any(part.startswith(".") or part == "__pycache__" for part in folders):
            yield path


def _folder_reached_twice(root: str) -> tuple[str, str] | None:
    """The first folder link below ``root`` that leads where the walk has been (a link to a folder above it, or
    a second link to one folder), with the path the walk first reached it by; None when there is none."""
    seen = {os.path.realpath(root): root}
    for here, folders, _files in os.walk(root, followlinks=True):
        kept = []
        for name in sorted(folders):
            path = os.path.join(here, name)
            real = os.path.realpath(path)
            if real in seen:
                return (path, seen[real]) if os.path.islink(path) else (seen[real], path)
            seen[real] = path
            kept.append(name)
        folders[:] = kept
    return None


def _walk_order(path: str) -> list[tuple[int, str]]:
    # A folder's own files before its subfolders, names sorted: the same order on every machine.
    *folders, name = path.split(os.sep)
    return [(1, f) for f in folders] + [(0, name)]


def _claim(files: Iterable[str], result: Compilation) -> list[Found]:
    """The files some dialect reads (the first in REGISTRY order that claims one); for ``first_only`` patterns,
    a folder's other alternatives become warnings."""
    found: list[tuple[Found, tuple[str, int, str], int]] = []
    for file in files:
        posix = os.path.abspath(file).replace(os.sep, "/")
        for dialect in REGISTRY.values():
            claimed = next(((i, m) for i, p in enumerate(dialect.patterns) if (m := p.match(posix)) is not None), None)
            if claimed is not None:
                pattern, (glob, folder) = claimed
                found.append((Found(dialect, file), (dialect.name, pattern, folder), glob))
                break
    winners: dict[tuple[str, int, str], tuple[int, str]] = {}
    for f, place, glob in found:
        if f.dialect.patterns[place[1]].first_only and (place not in winners or glob < winners[place][0]):
            winners[place] = (glob, f.file)
    kept = []
    for f, place, _glob in found:
        winner = winners.get(place, (0, f.file))[1]
        if winner == f.file:
            kept.append(f)
            continue
        ours, theirs = os.path.basename(f.file), os.path.basename(winner)
        result.warnings.append(Diagnostic(
            f.file, 1, 1, f"ignored: {theirs} in the same folder is used instead",
            f"keep one spec file per folder; delete {ours} or merge it into {theirs}", Severity.WARNING))
    return kept


def discover(root: str, result: Compilation | None = None) -> list[Found]:
    """Every spec file below ``root`` (or ``root`` itself) with the dialect that reads it, in walk order."""
    result = result if result is not None else Compilation()
    if os.path.isfile(root):
        found = _claim([root], result)
        if not found:
            names = sorted({g for d in REGISTRY.values() for p in d.patterns for g in p.globs})
            result.add(root, [Diagnostic(root, 1, 1, "no dialect reads a file of this name",
                                         f"taskspec reads {', '.join(names)}")])
        return found
    try:
        files = sorted(_walk(root), key=_walk_order)
    except (OSError, RuntimeError) as exc:  # Airflow's walk refuses symlink loops
        repeated = _folder_reached_twice(root) if isinstance(exc, RuntimeError) else None
        if repeated is None:
            result.add(root, [Diagnostic(root, 1, 1, f"cannot walk this folder: {exc}")])
        else:
            link, first = repeated
            result.add(link, [Diagnostic(
                link, 1, 1, f"this link leads to {os.path.realpath(link)}, which the walk of {root} already "
                f"reached as {first}; Airflow refuses a DAG folder it would walk twice, so no DAG in it loads",
                f"remove the link, or list it in {IGNORE_FILE} (Airflow then does not follow it)")])
        return []
    return _claim(files, result)


# -- reading -------------------------------------------------------------------------------------------------------

@dataclass
class _GroupResult:
    """One group's normalisation and what it was derived from."""

    members: tuple[str, ...]  # digests of the group's files, in order
    lookups: dict[str, tuple[str, ...]]  # other group key -> digests of its files then (empty: no such group)
    keys: tuple[str, ...] | None  # every group key of the dialect, when the result listed them
    files: dict[str, tuple[int, int] | None]  # other files read -> fingerprint then
    workflows: list[ir.Workflow]
    diagnostics: dict[str, list[Diagnostic]]
    options: dict[str, str] = field(default_factory=dict)  # [taskspec] options read -> their values then


@dataclass
class _Entry:
    """What is known about one spec file with one content: its groups, its errors, the groups' last results.

    The parsed result (``parsed``) is several times larger than the IR and needed only to normalise again or to
    answer another group's lookup, so it is cached in a file of its own and loaded only then. Group results are
    kept in the entry of the group's first file.
    """

    digest: str
    dialect: str
    file: str
    keys: tuple[str, ...]
    error: SpecError | None
    groups: dict[str, _GroupResult] = field(default_factory=dict)
    parsed: Any = field(default=None, compare=False)
    options: dict[str, str] = field(default_factory=dict)  # [taskspec] options read -> their values then

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "parsed": None}


def _not_utf8(file: str, raw: bytes, exc: UnicodeDecodeError) -> SpecError:
    before = raw[:exc.start]
    line = before.count(b"\n") + 1
    column = len(before) - (before.rfind(b"\n") + 1) + 1
    return SpecError.single(file, line, column, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})",
                            "save it as UTF-8")


def _unreadable(file: str, exc: OSError) -> SpecError:
    reason, hint = exc.strerror, ""
    if isinstance(exc, NotAFile):
        hint = f"replace it with a file, or list it in {IGNORE_FILE} to keep taskspec from reading it"
    elif isinstance(exc, FileNotFoundError) and os.path.islink(file):
        reason = f"it is a symbolic link to '{os.readlink(file)}', which does not exist"
        hint = "point the link at the spec file, or remove it"
    return SpecError.single(file, 1, 1, f"cannot read the file: {reason}", hint)


def _read_entry(found: Found, cache: CompileCache) -> _Entry:
    dialect, file = found.dialect, found.file
    try:
        raw = read_regular_file(file)
    except OSError as exc:
        return _Entry("", dialect.name, file, (), _unreadable(file, exc))
    digest = file_digest(dialect.name, file, raw)
    cached = cache.load(digest, "entry")
    if isinstance(cached, _Entry) and cached.digest == digest and config.unchanged(cached.options):
        return cached
    with config.recording() as options:
        try:
            parsed = dialect.read(file, raw.decode("utf-8"))
            keys = tuple(dialect.group_keys(parsed))
        except UnicodeDecodeError as exc:
            entry = _Entry(digest, dialect.name, file, (), _not_utf8(file, raw, exc))
        except SpecError as exc:
            entry = _Entry(digest, dialect.name, file, (), exc)
        except Exception as exc:  # noqa: BLE001 - a bug of ours: this file's error, never the folder's; not cached
            return _Entry(digest, dialect.name, file, (), SpecError([_bug(file, "reading", exc)]))
        else:
            entry = _Entry(digest, dialect.name, file, keys, None, parsed=parsed)
    entry.options = options
    if entry.parsed is not None:
        cache.store(digest, "parsed", entry.parsed)
    cache.store(digest, "entry", entry)
    return entry


def _parsed(entry: _Entry, cache: CompileCache) -> Any:
    if entry.parsed is None:
        entry.parsed = cache.load(entry.digest, "parsed")
    if entry.parsed is None:
        with open(entry.file, encoding="utf-8") as fh:
            entry.parsed = REGISTRY[entry.dialect].read(entry.file, fh.read())
        cache.store(entry.digest, "parsed", entry.parsed)
    return entry.parsed


# -- groups --------------------------------------------------------------------------------------------------------

def _group(key: str, members: list[_Entry], cache: CompileCache) -> Group[Any]:
    return Group(key, tuple(SpecFile(e.file, _parsed(e, cache)) for e in members))


class _Lookup:
    """A dialect's groups as ``contract.Lookup``, recording what the normalisation looked at."""

    def __init__(self, groups: dict[str, list[_Entry]], cache: CompileCache) -> None:
        self.groups = groups
        self.cache = cache
        self.used: dict[str, tuple[str, ...]] = {}
        self.keys_used: tuple[str, ...] | None = None

    def group(self, key: str) -> Group[Any] | None:
        members = self.groups.get(key, [])
        self.used[key] = tuple(e.digest for e in members)
        return _group(key, members, self.cache) if members else None

    def keys(self) -> list[str]:
        self.keys_used = tuple(sorted(self.groups))
        return list(self.keys_used)


def _fingerprint(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size) if os.path.isfile(path) else None


def _still_valid(result: _GroupResult, members: list[_Entry], groups: dict[str, list[_Entry]]) -> bool:
    if result.members != tuple(e.digest for e in members):
        return False
    if result.keys is not None and result.keys != tuple(sorted(groups)):
        return False
    if not config.unchanged(result.options):
        return False
    for key, digests in result.lookups.items():
        if tuple(e.digest for e in groups.get(key, [])) != digests:
            return False
    return all(_fingerprint(path) == seen for path, seen in result.files.items())


def _normalise(dialect: Dialect[Any], key: str, members: list[_Entry], groups: dict[str, list[_Entry]],
               cache: CompileCache, only_dag_id: str | None) -> tuple[_GroupResult, bool]:
    """The group's result, and whether it may be cached (not when a bug of ours interrupted it)."""
    lookup = _Lookup(groups, cache)
    files: tuple[str, ...] = ()
    workflows: list[ir.Workflow] = []
    cacheable = True
    with config.recording() as options:  # what it reads of [taskspec] is part of what it is derived from
        try:
            normalised = dialect.normalise(_group(key, members, cache), lookup, only_dag_id)
            workflows, files = ir.with_equal_values_shared(list(normalised.workflows)), tuple(normalised.files)
            diagnostics = {file: list(found) for file, found in normalised.diagnostics.items()}
        except SpecError as exc:  # the contract asks for diagnostics, but an error raised is still an error
            mine = {e.file for e in members}
            diagnostics = {e.file: [] for e in members}
            for d in exc.diagnostics:
                diagnostics[d.file if d.file in mine else members[0].file].append(d)
        except config.ConfigError as exc:  # an option the dialect reads: not the files' fault, nor our bug
            message = f"cannot compile this file with the configuration: {exc}"
            hint = "fix the [taskspec] option named; the file itself may be right"
            diagnostics = {e.file: [Diagnostic(e.file, 1, 1, message, hint)] for e in members}
            cacheable = False
        except Exception as exc:  # noqa: BLE001 - a bug of ours: an error of this group's files, never the folder's
            diagnostics = {e.file: [_bug(e.file, "compiling", exc)] for e in members}
            cacheable = False
    result = _GroupResult(tuple(e.digest for e in members), lookup.used, lookup.keys_used,
                          {path: _fingerprint(path) for path in files}, workflows, diagnostics, options)
    return result, cacheable


def compile_paths(paths: Iterable[str], only_dag_id: str | None = None) -> Compilation:
    """Compile every spec file under ``paths``. With ``only_dag_id``, only the groups that can produce that DAG
    are normalised (every file is still read, for lookups across groups)."""
    result = Compilation()
    cache = CompileCache()
    groups: dict[str, dict[str, list[_Entry]]] = {name: {} for name in REGISTRY}
    for root in paths:
        for found in discover(root, result):
            entry = _read_entry(found, cache)
            if entry.error is not None:
                result.add(entry.file, entry.error.diagnostics)
            for key in entry.keys:
                groups[entry.dialect].setdefault(key, []).append(entry)

    workflows: list[ir.Workflow] = []
    for name, by_key in groups.items():
        dialect = REGISTRY[name]
        wanted = None if only_dag_id is None else set(dialect.groups_of_dag_id(only_dag_id))
        for key, members in by_key.items():
            if wanted is not None and key not in wanted:
                continue
            holder = members[0]
            compiled = holder.groups.get(key)
            if compiled is None or not _still_valid(compiled, members, by_key):
                compiled, cacheable = _normalise(dialect, key, members, by_key, cache, only_dag_id)
                if only_dag_id is None and cacheable:  # a partial normalisation (one DAG) is not the group's result
                    holder.groups[key] = compiled
                    cache.store(holder.digest, "entry", holder)
            for file, diagnostics in compiled.diagnostics.items():
                result.add(file, diagnostics)
            workflows.extend(wf for wf in compiled.workflows if only_dag_id is None or wf.dag_id == only_dag_id)

    # Ids Airflow would reject fail the DAG's file here, not when Airflow builds the DAG object.
    checked = [(wf, airflow_ids.problems(wf)) for wf in workflows]
    for diagnostic in dedupe(d for _, found in checked for d in found):
        result.add(diagnostic.file, [diagnostic])
    workflows = [wf for wf, found in checked if not found]
    result.workflows, clashes = _duplicate_ids(workflows)
    for diagnostic in clashes:
        result.add(diagnostic.file, [diagnostic])
    return result


def _duplicate_ids(workflows: list[ir.Workflow]) -> tuple[list[ir.Workflow], list[Diagnostic]]:
    """The first workflow of each DAG id, and an error at each later definition naming the first one."""
    first: dict[str, ir.Workflow] = {}
    errors: list[Diagnostic] = []
    kept: list[ir.Workflow] = []
    for wf in workflows:
        if wf.dag_id in first:
            at = wf.origin
            errors.append(Diagnostic(at.file, at.line, at.column,
                                     f"DAG id '{wf.dag_id}' is also defined at {first[wf.dag_id].origin}",
                                     "DAG ids are unique in the DAG folder: rename one of the two"))
            continue
        first[wf.dag_id] = wf
        kept.append(wf)
    return kept, errors
