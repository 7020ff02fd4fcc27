"""The artifact store: any fsspec URL (file://, s3://, gs://, memory://...)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import fsspec

T = TypeVar("T")

# Errors that do not go away by trying again; any other OSError (a dropped connection, a timeout, a 5xx
# an fsspec backend reports as OSError) is treated as transient.
PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


@dataclass(frozen=True)
class Backoff:
    """Retries of one store call on transient errors: ``attempts`` in all, waiting 1x, 2x, 4x... ``first_delay``."""

    attempts: int = 5
    first_delay: float = 0.5
    log: Callable[[str], Any] = print
    sleep: Callable[[float], Any] = time.sleep

    def run(self, what: str, call: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except PERMANENT:
                raise
            except OSError as exc:
                if attempt == self.attempts:
                    raise
                delay = self.first_delay * 2 ** (attempt - 1)
                self.log(f"store: {what} failed ({type(exc).__name__}: {exc}); try {attempt + 1} of "
                         f"{self.attempts} in {delay:g} s")
                self.sleep(delay)
        raise AssertionError("unreachable")


NO_RETRY = Backoff(attempts=1)


def _fs(url: str, options: dict[str, Any] | None) -> tuple[Any, str]:
    fs, path = fsspec.core.url_to_fs(url, **(options or {}))
    return fs, path


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/")] + [p.strip("/") for p in parts if p])


def upload(root: str, rel_paths: list[str], dest_url: str, options: dict[str, Any] | None = None,
           backoff: Backoff = NO_RETRY) -> list[dict[str, Any]]:
    """Copy files from a workspace to the store; returns one record per file (url, path, size)."""
    fs, base = _fs(dest_url, options)
    records: list[dict[str, Any]] = []
    for rel in rel_paths:
        src = os.path.join(root, rel)
        target = base.rstrip("/") + "/" + rel.replace(os.sep, "/")

        def put(src: str = src, target: str = target) -> None:
            fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(src, target)

        backoff.run(f"uploading {rel} to {dest_url}", put)
        records.append({"url": join(dest_url, rel.replace(os.sep, "/")), "path": rel, "size": os.path.getsize(src)})
    return records


def exists(url: str, options: dict[str, Any] | None = None) -> bool:
    fs, path = _fs(url, options)
    return bool(fs.exists(path))


def write_bytes(url: str, data: bytes, options: dict[str, Any] | None = None, backoff: Backoff = NO_RETRY) -> None:
    """Write one small object (a marker, a JSON result), creating its folder where the store has folders."""
    fs, path = _fs(url, options)
    parent = path.rsplit("/", 1)[0]

    def write() -> None:
        if parent and parent != path:
            fs.makedirs(parent, exist_ok=True)
        fs.pipe_file(path, data)

    backoff.run(f"writing {url}", write)


def read_bytes(url: str, options: dict[str, Any] | None = None) -> bytes:
    fs, path = _fs(url, options)
    return bytes(fs.cat_file(path))


def download_tree(src_url: str, dest_root: str, options: dict[str, Any] | None = None) -> list[str]:
    """Copy every file below ``src_url`` into ``dest_root``, keeping relative paths; returns them."""
    fs, base = _fs(src_url, options)
    if not fs.exists(base):
        return []
    base = base.rstrip("/")
    copied: list[str] = []
    for remote in sorted(fs.find(base)):
        rel = remote[len(base):].lstrip("/")
        target = os.path.join(dest_root, rel)
        os.makedirs(os.path.dirname(target) or dest_root, exist_ok=True)
        fs.get_file(remote, target)
        copied.append(rel)
    return copied
