"""A task's workspace: the project files, a manifest of what was staged, and what the task changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

META_DIR = ".taskspec"
MANIFEST = os.path.join(META_DIR, "manifest.json")
# Never part of a project copy nor of a task's outputs.
SKIP_NAMES = frozenset({".git", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache", META_DIR})


def _skip(name: str) -> bool:
    return name in SKIP_NAMES or name.endswith(".pyc")


def walk_files(root: str) -> list[str]:
    """Relative paths of every regular file below ``root``, sorted, without our metadata or caches."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skip(d))
        for name in sorted(files):
            if not _skip(name):
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


def snapshot(root: str) -> dict[str, str]:
    return {rel: file_digest(os.path.join(root, rel)) for rel in walk_files(root)}


def write_manifest(root: str, manifest: dict[str, str]) -> None:
    os.makedirs(os.path.join(root, META_DIR), exist_ok=True)
    with open(os.path.join(root, MANIFEST), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)


def read_manifest(root: str) -> dict[str, str]:
    try:
        with open(os.path.join(root, MANIFEST), encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in data.items()}


def changed_files(root: str, manifest: dict[str, str]) -> list[str]:
    """Files that are new or whose content differs from what provision staged."""
    return [rel for rel in walk_files(root) if manifest.get(rel) != file_digest(os.path.join(root, rel))]


def files_under(root: str, paths: list[str]) -> list[str]:
    """The files named by ``paths`` (files or folders, relative to the workspace); missing ones are skipped."""
    found: list[str] = []
    for path in paths:
        full = os.path.normpath(os.path.join(root, path))
        if not (full == root or full.startswith(root.rstrip(os.sep) + os.sep)):
            raise ValueError(f"artifact path {path!r} leaves the workspace")
        if os.path.isfile(full):
            found.append(os.path.relpath(full, root))
        elif os.path.isdir(full):
            found.extend(os.path.relpath(os.path.join(full, rel), root) for rel in walk_files(full))
    return sorted(set(found))
