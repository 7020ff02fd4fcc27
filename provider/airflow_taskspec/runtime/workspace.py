"""A task's workspace: the project files, a manifest of what was staged, and what the task changed."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field

META_DIR = ".taskspec"
MANIFEST = os.path.join(META_DIR, "manifest.json")
# Never part of a project copy nor of a task's outputs: version control, Python environments and caches.
SKIP_NAMES = frozenset({
    ".git", ".hg", ".svn", META_DIR,
    ".venv", "venv", ".tox", ".nox", "node_modules",
    "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".cache",
})
_SKIP_SUFFIXES = (".pyc", ".taskspec-partial")
# A folder holding one of these is an environment, whatever its name (virtualenv, conda).
_ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")
_GLOB_CHARS = frozenset("*?[")


def _skip_file(name: str) -> bool:
    return name in SKIP_NAMES or name.endswith(_SKIP_SUFFIXES)


def _skip_dir(folder: str, name: str) -> bool:
    if name in SKIP_NAMES:
        return True
    full = os.path.join(folder, name)
    return not os.path.islink(full) and any(os.path.exists(os.path.join(full, m)) for m in _ENVIRONMENT_MARKERS)


def walk_files(root: str) -> list[str]:
    """Relative paths of every file below ``root``, sorted, without our metadata, environments or caches.
    Symlinked folders inside ``root`` are not followed (a linked data set is not the task's own file)."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skip_dir(folder, d) and not os.path.islink(os.path.join(folder, d)))
        for name in sorted(files):
            if not _skip_file(name):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return found


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(root: str) -> str:
    """One hash for a folder's files and their contents: the cache key of an uploaded project."""
    digest = hashlib.sha256()
    for rel in walk_files(root):
        digest.update(rel.encode() + b"\0" + file_digest(os.path.join(root, rel)).encode() + b"\0")
    return digest.hexdigest()


def copy_tree(src: str, dst: str) -> int:
    os.makedirs(dst, exist_ok=True)
    count = 0
    for rel in walk_files(src):
        target = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(src, rel), target)
        count += 1
    return count


@dataclass(frozen=True)
class Entry:
    size: int
    sha256: str


@dataclass
class Manifest:
    """What provision staged: each file's size and content hash, and the paths where data sets are linked."""

    files: dict[str, Entry] = field(default_factory=dict)
    linked: list[str] = field(default_factory=list)

    def is_linked(self, rel: str) -> bool:
        return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in self.linked)


def snapshot(root: str) -> Manifest:
    return Manifest({rel: Entry(os.path.getsize(os.path.join(root, rel)), file_digest(os.path.join(root, rel)))
                     for rel in walk_files(root)})


def write_manifest(root: str, manifest: Manifest) -> None:
    os.makedirs(os.path.join(root, META_DIR), exist_ok=True)
    body = {"files": {rel: {"size": e.size, "sha256": e.sha256} for rel, e in sorted(manifest.files.items())},
            "linked": sorted(manifest.linked)}
    with open(os.path.join(root, MANIFEST), "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=1)


def read_manifest(root: str) -> Manifest:
    try:
        with open(os.path.join(root, MANIFEST), encoding="utf-8") as fh:
            body = json.load(fh)
    except FileNotFoundError:
        return Manifest()
    files = {str(rel): Entry(int(e["size"]), str(e["sha256"])) for rel, e in body.get("files", {}).items()}
    return Manifest(files, [str(p) for p in body.get("linked", [])])


def changed_files(root: str, manifest: Manifest) -> list[str]:
    """Files that are new or whose content differs from what provision staged (by sha256; a different size
    settles it without reading the file). Linked data sets, environments and caches never count."""
    changed = []
    for rel in walk_files(root):
        if manifest.is_linked(rel):
            continue
        full = os.path.join(root, rel)
        known = manifest.files.get(rel)
        if known is None or known.size != os.path.getsize(full) or known.sha256 != file_digest(full):
            changed.append(rel)
    return changed


@dataclass(frozen=True)
class Selection:
    files: list[str]
    unmatched: list[str]  # paths and globs that named nothing (worth a line in the log)


def select(root: str, paths: list[str]) -> Selection:
    """The files named by ``paths`` relative to the workspace: files, folders (recursively) and globs
    (``*``, ``?``, ``[...]``, ``**`` for any depth)."""
    found: set[str] = set()
    unmatched: list[str] = []
    for path in paths:
        if os.path.isabs(path) or ".." in path.replace("\\", "/").split("/"):
            raise ValueError(f"artifact path {path!r} leaves the workspace: give a path relative to it")
        matches = (sorted(glob.glob(path, root_dir=root, recursive=True)) if _GLOB_CHARS & set(path)
                   else [path] if os.path.lexists(os.path.join(root, path)) else [])
        named: set[str] = set()
        for match in matches:
            full = os.path.normpath(os.path.join(root, match))
            if os.path.isfile(full):
                if not _skip_file(os.path.basename(full)):
                    named.add(os.path.relpath(full, root))
            elif os.path.isdir(full):
                named.update(os.path.relpath(os.path.join(full, rel), root) for rel in walk_files(full))
        if not named:
            unmatched.append(path)
        found |= named
    return Selection(sorted(found), unmatched)


def files_under(root: str, paths: list[str]) -> list[str]:
    return select(root, paths).files
