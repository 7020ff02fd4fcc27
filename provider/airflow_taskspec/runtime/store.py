"""The artifact store: any fsspec URL (file://, s3://, gs://, az://, memory://...).

A ``Location`` is a filesystem plus a path on it, and the URL users see for that path. The worker builds
its filesystem from an Airflow connection (``airflow_taskspec.artifact_store``) and hands it in; the filer
pod builds one from the URL and the non-secret options it was given (its keys come from its environment).
Every call that touches the store goes through ``retrying``: object stores fail now and then, and one lost
connection must not fail a task that moved gigabytes.
"""

from __future__ import annotations

import errno
import os
import random
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import fsspec
from fsspec import AbstractFileSystem

T = TypeVar("T")
Log = Callable[[str], None]


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/")] + [p.strip("/") for p in parts if p])


@dataclass(frozen=True)
class Location:
    """A folder or file in the store: ``path`` on ``fs``, shown to users as ``url``."""

    fs: AbstractFileSystem
    path: str
    url: str

    def child(self, *parts: str) -> Location:
        return Location(self.fs, join(self.path, *parts), join(self.url, *parts))

    @property
    def is_local(self) -> bool:
        """A folder on this machine's filesystem: data sets can be linked instead of copied."""
        protocol = self.fs.protocol
        return "file" in (protocol if isinstance(protocol, tuple) else (protocol,))


def locate(url: str, options: dict[str, Any] | None = None, fs: AbstractFileSystem | None = None) -> Location:
    """The Location of ``url``: on ``fs`` when the caller has one (the worker's, with its credentials)."""
    if fs is None:
        fs, path = fsspec.core.url_to_fs(url, **(options or {}))
    else:
        path = fs._strip_protocol(url)
    return Location(fs, str(path).rstrip("/") or "/", url.rstrip("/"))


# Errors worth another try: the network and the store's "slow down / busy / internal error" answers
# (s3fs turns those into OSError EBUSY / EREMOTEIO), not "no such key" or "access denied".
_TRANSIENT_ERRNOS = frozenset({errno.EBUSY, errno.EAGAIN, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNABORTED,
                               errno.EPIPE, errno.EREMOTEIO})
_TRANSIENT_NAMES = frozenset({"EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError",
                              "ConnectTimeoutError", "ClientConnectionError", "ServerDisconnectedError",
                              "ClientPayloadError", "ResponseStreamingError", "IncompleteReadError"})


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


@dataclass(frozen=True)
class Retry:
    """Exponential backoff with jitter: 0.5 s, 1 s, 2 s, 4 s... capped, ``attempts`` tries in all."""

    attempts: int = 6
    first_delay: float = 0.5
    max_delay: float = 15.0

    def delays(self) -> Iterator[float]:
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay * random.uniform(0.8, 1.2)
            delay = min(delay * 2, self.max_delay)


DEFAULT_RETRY = Retry()


def retrying(what: str, operation: Callable[[], T], log: Log | None = None, retry: Retry = DEFAULT_RETRY) -> T:
    """``operation()``, tried again after transient store errors; the last error is raised as it was."""
    delays = retry.delays()
    while True:
        try:
            return operation()
        except Exception as exc:
            delay = next(delays, None) if is_transient(exc) else None
            if delay is None:
                raise
            if log is not None:
                log(f"store: {what} failed ({type(exc).__name__}: {exc}); trying again in {delay:.1f} s")
            time.sleep(delay)


def exists(loc: Location) -> bool:
    return bool(retrying(f"checking {loc.url}", lambda: loc.fs.exists(loc.path)))


def write_bytes(loc: Location, data: bytes) -> None:
    """Write one small object (a manifest, a JSON result), creating its folder where the store has folders."""
    parent = loc.path.rsplit("/", 1)[0]

    def write() -> None:
        if parent and parent != loc.path:
            loc.fs.makedirs(parent, exist_ok=True)
        if loc.is_local:  # whole or not at all, as one PUT is on an object store
            partial = loc.path + ".taskspec-partial"
            with open(partial, "wb") as fh:
                fh.write(data)
            os.replace(partial, loc.path)
            return
        loc.fs.pipe_file(loc.path, data)

    retrying(f"writing {loc.url}", write)


def read_bytes(loc: Location) -> bytes:
    return bytes(retrying(f"reading {loc.url}", lambda: loc.fs.cat_file(loc.path)))


def list_files(loc: Location) -> dict[str, int]:
    """Every file below ``loc`` (relative path -> size), however many: the filesystem pages through the
    listing (S3 returns 1,000 keys per request). Fresh, not from fsspec's listing cache."""
    base = loc.path.rstrip("/")

    def find() -> dict[str, Any]:
        loc.fs.invalidate_cache(base)
        if not loc.fs.exists(base):
            return {}
        return dict(loc.fs.find(base, detail=True))

    found = retrying(f"listing {loc.url}", find)
    return {
        name[len(base):].lstrip("/"): int(info.get("size") or 0)
        for name, info in found.items()
        if info.get("type", "file") == "file" and name.startswith(base + "/")
    }


def list_folders(loc: Location) -> list[str]:
    """Names of the folders directly below ``loc`` (data-set versions)."""
    base = loc.path.rstrip("/")

    def ls() -> list[Any]:
        loc.fs.invalidate_cache(base)
        if not loc.fs.exists(base):
            return []
        return list(loc.fs.ls(base, detail=True))

    return sorted(
        str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
        for entry in retrying(f"listing {loc.url}", ls)
        if entry.get("type") == "directory"
    )


def remove_tree(loc: Location) -> None:
    """Delete a folder and all below it; nothing to delete is fine."""

    def rm() -> None:
        loc.fs.invalidate_cache(loc.path)
        if loc.fs.exists(loc.path):
            if loc.is_local:
                make_writable(loc.path)  # published data sets are read-only on a local store
            loc.fs.rm(loc.path, recursive=True)

    retrying(f"deleting {loc.url}", rm)


def remove_files(folder: Location, rels: list[str]) -> None:
    """Delete these files below ``folder`` (one batched request on object stores)."""
    if rels:
        paths = [folder.child(rel).path for rel in rels]
        retrying(f"deleting {len(paths)} files below {folder.url}", lambda: folder.fs.rm(paths))


def remove_file(loc: Location) -> None:
    def rm() -> None:
        try:
            loc.fs.rm_file(loc.path)
        except FileNotFoundError:
            pass

    retrying(f"deleting {loc.url}", rm)


def make_writable(path: str) -> None:
    """Undo a local publication's read-only modes, so it can be replaced or deleted."""
    if not os.path.isdir(path):
        return
    for folder, dirs, _files in os.walk(path):
        os.chmod(folder, os.stat(folder).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        for name in dirs:
            sub = os.path.join(folder, name)
            if not os.path.islink(sub):
                os.chmod(sub, os.stat(sub).st_mode | stat.S_IWUSR | stat.S_IXUSR)
