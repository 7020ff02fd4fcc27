"""Everything that needs more than one file: discovery, per-file isolation, cross-project lookups, clashes, cache.

``compile_paths`` is the one entry point for the loader and the CLI: a broken file never hides another
file's workflows; it is reported in ``Compilation.errors`` instead.

Airflow re-parses the DAG folder every few seconds and once more for every task it runs, so compiled files
are cached on disk by content hash, across processes: a file's parsed models, and its workflows together with
the content hashes of the other projects they used (templates, data sets) and the project files the
executors were checked against. A cached result is used only while all of these are unchanged.
"""

from __future__ import annotations

import fnmatch
import gc
import hashlib
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from . import ir
from .dialects import ame
from .errors import Diagnostic, Severity, SpecError

IGNORE_FILE = ".airflowignore"
CACHE_ENV = "TASKSPEC_CACHE_DIR"
"""Where compiled files are cached; unset: ~/.cache/taskspec; empty or `off`: no cache."""


@dataclass
class Compilation:
    workflows: list[ir.Workflow] = field(default_factory=list)
    errors: dict[str, SpecError] = field(default_factory=dict)  # spec file -> what is wrong with it
    warnings: list[Diagnostic] = field(default_factory=list)

    def diagnostics(self) -> list[Diagnostic]:
        found = [d for err in self.errors.values() for d in err.diagnostics] + self.warnings
        unique = {(d.file, d.line, d.column, d.message, d.severity): d for d in found}
        return sorted(unique.values(), key=lambda d: (d.file, d.line, d.column, d.severity.value))


# -- discovery -----------------------------------------------------------------------------------------------------

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


def _spec_files(root: str) -> Iterator[tuple[str, list[str]]]:
    """Each AME spec file below ``root`` with the other spec files of its folder that lose to it."""
    if os.path.isfile(root):
        yield root, []
        return
    patterns_by_dir: dict[str, list[str]] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        patterns = patterns_by_dir.get(os.path.dirname(folder), []) + _ignore_patterns(folder)
        patterns_by_dir[folder] = patterns
        rel_folder = os.path.relpath(folder, root)
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"
                   and not _ignored(os.path.normpath(os.path.join(rel_folder, d)), patterns)]
        names = [n for n in ame.SPEC_FILE_NAMES if n in files
                 and not _ignored(os.path.normpath(os.path.join(rel_folder, n)), patterns)]
        if names:
            yield os.path.join(folder, names[0]), [os.path.join(folder, n) for n in names[1:]]


def discover(root: str) -> Iterator[str]:
    """Every AME spec file below ``root`` (or ``root`` itself), honouring ``.airflowignore`` files."""
    for spec, _losers in _spec_files(root):
        yield spec


# -- the on-disk cache ---------------------------------------------------------------------------------------------

@dataclass
class _Compiled:
    """One file's normalisation and what it depended on."""

    depends_on: dict[str, str]  # other project name -> content hash of its file
    checked_files: dict[str, bool]  # executor project files -> whether they existed
    workflows: list[ir.Workflow]
    warnings: list[Diagnostic]
    error: SpecError | None


@dataclass
class _Entry:
    """What is known about one spec file with one content: its project, its errors, its last normalisation.

    The parsed models with their line/column marks (``spec``) are several times larger than the IR and are
    needed only to normalise again or to answer another project's template or data-set lookup, so they are
    cached in a file of their own and loaded only then.
    """

    digest: str
    file: str
    project_name: str | None
    error: SpecError | None
    compiled: _Compiled | None = None
    spec: ame.ParsedSpec | None = field(default=None, compare=False)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "spec": None}

    def parsed(self, cache: _Cache) -> ame.ParsedSpec:
        if self.spec is None:
            self.spec = cache.get_spec(self.digest)
        if self.spec is None:
            with open(self.file, encoding="utf-8") as fh:
                self.spec = ame.read(self.file, fh.read())
            cache.put_spec(self.digest, self.spec)
        return self.spec


_code_version: str | None = None


def _code_digest() -> str:
    """Changes whenever the code that produces cache entries changes, so an upgrade never reads stale entries."""
    global _code_version
    if _code_version is None:
        here = os.path.dirname(os.path.abspath(__file__))
        h = hashlib.sha256()
        for rel in ("ir.py", "errors.py", "quantities.py", "resolve.py", "dialects/ame.py", "dialects/yaml.py"):
            with open(os.path.join(here, rel), "rb") as fh:
                h.update(fh.read())
        _code_version = h.hexdigest()[:16]
    return _code_version


def _cache_dir() -> str | None:
    configured = os.environ.get(CACHE_ENV)
    if configured is None:
        return os.path.join(os.path.expanduser("~"), ".cache", "taskspec")
    return None if configured.strip() in ("", "off") else configured


class _Cache:
    def __init__(self) -> None:
        self.folder = _cache_dir()

    def _path(self, digest: str, kind: str) -> str | None:
        return os.path.join(self.folder, f"ame-{digest}.{kind}.pickle") if self.folder else None

    def _load(self, path: str | None) -> object:
        if path is None:
            return None
        gc_was_on = gc.isenabled()
        gc.disable()  # unpickling allocates many small objects; collections during it only cost time
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # missing, truncated or from another version: recompute
            return None
        finally:
            if gc_was_on:
                gc.enable()

    def _store(self, path: str | None, value: object) -> None:
        if path is None or self.folder is None:
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
            # Written beside its final name and renamed, so a reader in another process never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:  # a read-only home must not break DAG parsing; it only makes it slower
            pass

    def get(self, digest: str) -> _Entry | None:
        entry = self._load(self._path(digest, "entry"))
        return entry if isinstance(entry, _Entry) and entry.digest == digest else None

    def put(self, entry: _Entry) -> None:
        self._store(self._path(entry.digest, "entry"), entry)

    def get_spec(self, digest: str) -> ame.ParsedSpec | None:
        spec = self._load(self._path(digest, "spec"))
        return spec if isinstance(spec, ame.ParsedSpec) else None

    def put_spec(self, digest: str, spec: ame.ParsedSpec) -> None:
        self._store(self._path(digest, "spec"), spec)


# -- compilation ---------------------------------------------------------------------------------------------------

def _read_entry(spec_file: str, cache: _Cache) -> _Entry:
    with open(spec_file, "rb") as fh:
        raw = fh.read()
    digest = hashlib.sha256(b"\0".join([_code_digest().encode(), os.path.abspath(spec_file).encode(), raw])).hexdigest()
    cached = cache.get(digest)
    if cached is not None:
        return cached
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Entry(digest, spec_file, None, SpecError.single(spec_file, 1, 1, f"the file is not UTF-8 text ({exc.reason})",
                                                     "save it as UTF-8"))
    try:
        spec = ame.read(spec_file, text)
    except SpecError as exc:
        entry = _Entry(digest, spec_file, None, exc)
    else:
        entry = _Entry(digest, spec_file, spec.project.name, None, spec=spec)
        cache.put_spec(digest, spec)
    cache.put(entry)
    return entry


def _still_valid(compiled: _Compiled, index: dict[str, _Entry]) -> bool:
    for project, digest in compiled.depends_on.items():
        current = index.get(project)
        if current is None or current.digest != digest:
            return False
    return all(os.path.isfile(path) == existed for path, existed in compiled.checked_files.items())


def _normalise(entry: _Entry, index: dict[str, _Entry], cache: _Cache, only_dag_id: str | None) -> _Compiled:
    def lookup(name: str) -> ame.ParsedSpec | None:
        found = index.get(name)
        return found.parsed(cache) if found is not None else None

    try:
        result = ame.normalise(entry.parsed(cache), lookup, index, only_dag_id)
    except SpecError as exc:
        # Which projects were consulted before the error is unknown here; depending on all makes it safe.
        return _Compiled({n: e.digest for n, e in index.items()}, {}, [], [], exc)
    depends = {name: index[name].digest for name in result.depends_on if name in index}
    return _Compiled(depends, result.checked_files, result.workflows,
                     [w for w in result.warnings if w.severity is Severity.WARNING], None)


def _index(entries: dict[str, _Entry], result: Compilation, cache: _Cache) -> dict[str, _Entry]:
    """Projects by name; a name used by two files is an error in the second one."""
    index: dict[str, _Entry] = {}
    for spec_file, entry in entries.items():
        name = entry.project_name
        if name is None:
            continue
        if name in index:
            m = entry.parsed(cache).doc.mark(("name",))
            result.errors[spec_file] = SpecError.single(
                spec_file, m.line, m.column, f"project name '{name}' is also used by {index[name].file}",
                "give one of the two projects another `name`; DAG ids and cross-project references use it")
            continue
        index[name] = entry
    return index


def compile_paths(paths: Iterable[str], only_dag_id: str | None = None) -> Compilation:
    """Compile every AME file under ``paths``. With ``only_dag_id``, workflows of other projects are not
    normalised (they are still read, for cross-project templates and data sets)."""
    result = Compilation()
    cache = _Cache()
    entries: dict[str, _Entry] = {}
    for root in paths:
        for spec_file, losers in _spec_files(root):
            for loser in losers:
                result.warnings.append(Diagnostic(
                    loser, 1, 1, f"ignored: {os.path.basename(spec_file)} in the same folder is used instead",
                    f"keep one spec file per folder; delete {os.path.basename(loser)} or merge it into "
                    f"{os.path.basename(spec_file)}", Severity.WARNING))
            try:
                entries[spec_file] = _read_entry(spec_file, cache)
            except OSError as exc:
                result.errors[spec_file] = SpecError.single(spec_file, 1, 1, f"cannot read the file: {exc.strerror}")

    for spec_file, entry in entries.items():
        if entry.error is not None:
            result.errors[spec_file] = entry.error
    index = _index(entries, result, cache)
    wanted_project = only_dag_id.split(".", 1)[0] if only_dag_id else None

    workflows: list[ir.Workflow] = []
    for name, entry in index.items():
        spec_file = entry.file
        if wanted_project is not None and name != wanted_project:
            continue
        compiled = entry.compiled
        if compiled is None or not _still_valid(compiled, index):
            compiled = _normalise(entry, index, cache, only_dag_id)
            if only_dag_id is None:  # a partial normalisation (one DAG) is not the file's result: not cached
                entry.compiled = compiled
                cache.put(entry)
        result.warnings.extend(compiled.warnings)
        if compiled.error is not None:
            result.errors[spec_file] = compiled.error
            continue
        workflows.extend(wf for wf in compiled.workflows if only_dag_id is None or wf.dag_id == only_dag_id)

    result.workflows, clashes = _duplicate_ids(workflows)
    for spec_file, err in clashes.items():
        result.errors.setdefault(spec_file, SpecError([])).diagnostics.extend(err.diagnostics)
    return result


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
