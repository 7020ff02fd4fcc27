"""Atomic publication of a set of files: an artifact set, a data-set version, a project snapshot.

A publication at ``DEST`` is::

    DEST/manifest.json          the commit, written last: every file's path, size, sha256 and URL
    DEST/files/<path>           the files

Until its manifest is committed, ``DEST`` is a temporary prefix: readers trust nothing but a committed
manifest and fetch exactly the files it lists (checking each sha256), so a publish that dies half-way leaves
nothing that looks complete, and the next publish to the same place completes it. A republish first
withdraws the old manifest, and removes files that a dead attempt left and the new manifest does not list.
Files go straight to their final key: on an object store a "move" from a staging prefix would be a second,
server-side copy of every byte (measured on moto: 22 ms to upload a small file, 40 ms more to move it). On
a filesystem each file is written beside its name and renamed, so a file under its name is always whole.
The manifest itself lands in one step (one PUT; a rename on a filesystem).
"""

from __future__ import annotations

import datetime
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import store, transfer
from .store import Location, Log

MANIFEST = "manifest.json"
FILES = "files"
FORMAT = 1


@dataclass(frozen=True)
class FileRecord:
    """One published file, as the output manifest lists it."""

    path: str  # relative to the publication (and to the workspace folder it came from)
    size: int
    sha256: str
    url: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "url": self.url}


@dataclass(frozen=True)
class Manifest:
    url: str  # the publication's folder
    files: tuple[FileRecord, ...]
    meta: dict[str, Any]


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).isoformat(timespec="seconds")


def publish(root: str, rel_paths: Iterable[str], dest: Location, meta: dict[str, Any] | None = None,
            read_only: bool = False, log: Log | None = None) -> Manifest:
    """Publish ``root/<rel>`` for each path at ``dest``; returns the committed manifest."""
    rels = sorted(set(rel_paths))
    store.remove_file(dest.child(MANIFEST))  # a republish is incomplete until its own manifest lands
    files = dest.child(FILES)
    if dest.is_local:
        store.make_writable(files.path)  # an earlier publish here may have frozen it

    def send(rel: str) -> FileRecord:
        key = rel.replace(os.sep, "/")
        sent = transfer.upload_file(os.path.join(root, rel), files.child(key), log)
        return FileRecord(key, sent.size, sent.sha256, files.child(key).url)

    records = transfer.each(send, rels)
    leftovers = sorted(set(store.list_files(files)) - {r.path for r in records})
    store.remove_files(files, leftovers)  # left by a dead attempt; never listed, so never read
    if read_only and dest.is_local:
        _freeze(files.path)
    body = {"format": FORMAT, "committed_at": _now(), **(meta or {}),
            "files": [r.as_dict() for r in records]}
    store.write_bytes(dest.child(MANIFEST), json.dumps(body, indent=1, sort_keys=True).encode())
    return Manifest(dest.url, tuple(records), {k: v for k, v in body.items() if k != "files"})


def _freeze(folder: str) -> None:
    """Read-only files and folders: a task that has a data set linked into its workspace cannot change it."""
    if not os.path.isdir(folder):
        return
    no_write = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    for path, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            full = os.path.join(path, name)
            os.chmod(full, os.stat(full).st_mode & no_write)
        os.chmod(path, os.stat(path).st_mode & no_write)


def read_manifest(dest: Location) -> Manifest | None:
    """The committed manifest at ``dest``, or None when nothing (complete) was ever published there."""
    try:
        body = json.loads(store.read_bytes(dest.child(MANIFEST)))
    except FileNotFoundError:
        return None
    except ValueError:  # torn or foreign: not a commit we made
        return None
    if not isinstance(body, dict) or body.get("format") != FORMAT or not isinstance(body.get("files"), list):
        return None
    files = tuple(FileRecord(str(f["path"]), int(f["size"]), str(f["sha256"]), str(f["url"])) for f in body["files"])
    meta = {k: v for k, v in body.items() if k != "files"}
    return Manifest(dest.url, files, meta)


def is_committed(dest: Location) -> bool:
    return read_manifest(dest) is not None


def fetch(manifest: Manifest, dest: Location, target_root: str, log: Log | None = None) -> list[FileRecord]:
    """Download exactly the files ``manifest`` lists into ``target_root``, each checked against its sha256."""
    files = dest.child(FILES)
    transfer.each(lambda r: transfer.download_file(files.child(r.path), os.path.join(target_root, r.path),
                                                   r.sha256, log), list(manifest.files))
    return list(manifest.files)
