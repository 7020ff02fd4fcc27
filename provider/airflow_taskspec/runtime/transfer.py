"""Moving one file between a workspace and the store, streamed: memory stays bounded whatever the file size.

Each file goes through in ``CHUNK`` pieces; the store-side file object buffers at most ``BLOCK`` bytes (one
multipart part on S3). The sha256 is computed on the way, so an upload costs one read of the file and a
download is checked against the digest its manifest recorded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .store import Location, Log, retrying

CHUNK = 1 << 20  # 1 MiB per read/write
BLOCK = 8 << 20  # 8 MiB buffered by the store's file object (S3 multipart parts are at least 5 MiB)
PARALLEL = 4  # files in flight at once: many small files are latency-bound; memory stays under 4 * BLOCK
PARTIAL = ".taskspec-partial"  # a file being written on a filesystem, renamed to its name once whole

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Sent:
    size: int
    sha256: str


class CorruptTransfer(OSError):
    """A downloaded file whose content is not what its manifest says."""


def upload_file(local_path: str, dest: Location, log: Log | None = None) -> Sent:
    """Stream ``local_path`` to ``dest``; retried whole after a transient error."""

    def send() -> Sent:
        parent = dest.path.rsplit("/", 1)[0]
        if parent:
            dest.fs.makedirs(parent, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        target = dest.path + PARTIAL if dest.is_local else dest.path
        with open(local_path, "rb") as src, dest.fs.open(target, "wb", block_size=BLOCK) as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        if dest.is_local:
            os.replace(target, dest.path)
        return Sent(size, digest.hexdigest())

    return retrying(f"uploading {local_path} to {dest.url}", send, log)


def download_file(src: Location, local_path: str, expected_sha256: str | None = None, log: Log | None = None) -> Sent:
    """Stream ``src`` to ``local_path`` (written beside it, renamed into place once checked)."""
    folder = os.path.dirname(local_path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    partial = local_path + PARTIAL

    def fetch() -> Sent:
        digest = hashlib.sha256()
        size = 0
        with src.fs.open(src.path, "rb", block_size=BLOCK) as remote, open(partial, "wb") as out:
            while chunk := remote.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        got = digest.hexdigest()
        if expected_sha256 is not None and got != expected_sha256:
            raise CorruptTransfer(f"{src.url}: sha256 {got} but the manifest says {expected_sha256}")
        return Sent(size, got)

    try:
        sent = retrying(f"downloading {src.url}", fetch, log)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    os.replace(partial, local_path)
    return sent


def each(transfer: Callable[[T], R], items: Sequence[T], workers: int = PARALLEL) -> list[R]:
    """``transfer`` for every item, ``workers`` at a time; results in order; the first error is raised."""
    if len(items) <= 1 or workers <= 1:
        return [transfer(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="taskspec-transfer") as pool:
        return list(pool.map(transfer, items))
