"""Data sets by version: a successful producer run publishes a new version; readers get the latest complete one.

``datasets/<project>/<name>/`` holds one folder per version, ``v000001-<id>``, ``v000002-<id>``..., each an
atomic publication (``publish``): a version whose manifest was never committed does not exist for readers.
Each version is the producer's folder as it was at the end of the run, so a file the producer deleted is
absent from the next version. Older committed versions are kept up to a count; versions that a dead attempt
left uncommitted are removed once a newer one is committed.

Staging a version into a workspace: by reference when the store is a folder this process can see (the local
backend, a volume shared with the pods), so it costs one symlink whatever the data set's size; otherwise
each file is streamed and checked against its sha256.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

from . import publish, store, workspace
from .store import Location, Log

_VERSION = re.compile(r"^v(\d{6,})-[0-9a-f]+$")


class DataSetMissing(LookupError):
    """No complete version of a data set exists (its producer never succeeded)."""


@dataclass(frozen=True)
class Version:
    number: int
    name: str  # the folder name, e.g. v000003-5be1c2a9


def all_versions(data_set: Location) -> list[Version]:
    """Every version folder, committed or not, oldest first."""
    found = []
    for name in store.list_folders(data_set):
        match = _VERSION.match(name)
        if match:
            found.append(Version(int(match.group(1)), name))
    return sorted(found, key=lambda v: (v.number, v.name))


def committed_versions(data_set: Location) -> list[Version]:
    """Complete versions, oldest first."""
    return [v for v in all_versions(data_set) if publish.is_committed(data_set.child(v.name))]


def latest(data_set: Location) -> tuple[Version, publish.Manifest] | None:
    """The newest version whose manifest was committed, with that manifest; None if there is none."""
    for version in reversed(all_versions(data_set)):
        manifest = publish.read_manifest(data_set.child(version.name))
        if manifest is not None:
            return version, manifest
    return None


def publish_version(root: str, folder: str, data_set: Location, keep: int, meta: dict[str, Any] | None = None,
                    log: Log | None = None) -> tuple[Version, publish.Manifest]:
    """Publish ``root/folder`` (a folder, or one file) as the next version of ``data_set``, then prune.

    Call it only for a producer run that succeeded: the caller (the step's operator) knows the run's outcome.
    """
    base = os.path.join(root, folder)
    if os.path.isfile(base):
        source, rels = os.path.dirname(base), [os.path.basename(base)]
    else:
        source, rels = base, workspace.walk_files(base) if os.path.isdir(base) else []
    number = max((v.number for v in all_versions(data_set)), default=0) + 1
    version = Version(number, f"v{number:06d}-{uuid.uuid4().hex[:8]}")
    manifest = publish.publish(source, rels, data_set.child(version.name), meta=meta, read_only=True, log=log)
    prune(data_set, keep, log)
    return version, manifest


def prune(data_set: Location, keep: int, log: Log | None = None) -> list[str]:
    """Remove committed versions beyond the newest ``keep`` and uncommitted ones older than the newest
    committed (dead attempts). Returns the removed folder names."""
    versions = all_versions(data_set)
    committed = [v for v in versions if publish.is_committed(data_set.child(v.name))]
    if not committed:
        return []
    newest = committed[-1]
    doomed = committed[: max(len(committed) - max(keep, 1), 0)]
    doomed += [v for v in versions if v not in committed and (v.number, v.name) < (newest.number, newest.name)]
    for version in doomed:
        store.remove_tree(data_set.child(version.name))
        if log is not None:
            log(f"data set {data_set.url}: removed version {version.name}")
    return [v.name for v in doomed]


@dataclass(frozen=True)
class Staged:
    version: str
    files: int
    linked: bool
    records: tuple[publish.FileRecord, ...]


@dataclass(frozen=True)
class Mounted:
    """The artifact store as another process sees it: the folder ``path`` holds what ``store`` (a URL) holds
    (on Kubernetes, a shared volume mounted into the executor pod). Links made from it resolve there only."""

    store: str
    path: str

    def folder_of(self, url: str) -> str | None:
        """Where a store URL's files are under ``path``; None: not inside the store."""
        root = self.store.rstrip("/") + "/"
        if not url.startswith(root):
            return None
        return os.path.join(self.path, url[len(root):])


def stage(data_set: Location, workspace_root: str, path: str, by_reference: bool = True,
          log: Log | None = None, mounted: Mounted | None = None) -> Staged:
    """Make the latest version of ``data_set`` appear at ``workspace_root/path``: linked into ``mounted``
    when given (the version is found through the store; the links resolve where the volume is mounted)."""
    found = latest(data_set)
    if found is None:
        raise DataSetMissing(
            f"data set {data_set.url} has no complete version: its producer has not yet succeeded"
        )
    version, manifest = found
    target = os.path.join(workspace_root, path)
    files = data_set.child(version.name, publish.FILES)
    files_elsewhere = mounted.folder_of(files.url) if mounted is not None else None
    if not manifest.files:  # an empty version: an empty folder, not a dangling link
        os.makedirs(target, exist_ok=True)
    elif files_elsewhere is not None:
        _link(files_elsewhere, target, [r.path for r in manifest.files])
        return Staged(version.name, len(manifest.files), True, manifest.files)
    elif by_reference and data_set.is_local:
        _link(files.path, target, [r.path for r in manifest.files])
        return Staged(version.name, len(manifest.files), True, manifest.files)
    else:
        publish.fetch(manifest, data_set.child(version.name), target, log)
    return Staged(version.name, len(manifest.files), False, manifest.files)


def _link(source: str, target: str, rels: list[str]) -> None:
    """One symlink for the whole folder; file by file only where the workspace already has that folder."""
    if not os.path.lexists(target):
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        os.symlink(source, target, target_is_directory=True)
        return
    for rel in rels:
        link = os.path.join(target, rel)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.join(source, rel), link)
