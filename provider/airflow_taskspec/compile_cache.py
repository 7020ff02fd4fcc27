"""The on-disk cache of compiled spec files, shared by every process that parses the DAG folder.

Airflow re-parses the DAG folder every few seconds and once more for every task it runs; a warm parse unpickles
the IR instead of running YAML, pydantic and normalisation again. Keys are content hashes that include the
dialect and a digest of this package's whole source, so an upgrade never reads entries an older version wrote.
What a compiled result was derived from beyond the file is kept beside it and checked before it is used
(``resolve._still_valid``): the other groups and files it looked at, and the ``[taskspec]`` options it read
with their values then (``config.recording``), so a changed option recompiles exactly the groups that read it.

Unpickling runs code chosen by whoever wrote the file, so the cache lives in a folder of the current user's
(``$AIRFLOW_HOME/taskspec/cache``, created with mode 0700) and a folder or entry owned by anyone else is ignored.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import pickle
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_ENV = "TASKSPEC_COMPILE_CACHE_DIR"
"""Where compiled files are cached; unset: $AIRFLOW_HOME/taskspec/cache; empty or `off`: no cache."""

_PACKAGE = Path(__file__).resolve().parent
_code_version: str | None = None


def code_digest() -> str:
    """A digest of every file of the ``airflow_taskspec`` package: changes whenever its code does."""
    global _code_version
    if _code_version is None:
        h = hashlib.sha256()
        for path in sorted(p for p in _PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
        _code_version = h.hexdigest()[:16]
    return _code_version


def file_digest(dialect: str, path: str, raw: bytes) -> str:
    """The key of one spec file's content as read by one dialect (its path is part of what it compiles to)."""
    parts = [code_digest().encode(), dialect.encode(), os.path.abspath(path).encode(), raw]
    digest = hashlib.sha256(b"\0".join(parts)).hexdigest()
    return f"{dialect}-{digest}"


def airflow_home() -> str:
    # As Airflow itself finds it (airflow.configuration), without importing Airflow.
    return os.path.expanduser(os.path.expandvars(os.environ.get("AIRFLOW_HOME") or "~/airflow"))


def cache_folder() -> str | None:
    configured = os.environ.get(CACHE_ENV)
    if configured is None:
        return os.path.join(airflow_home(), "taskspec", "cache")
    return None if configured.strip() in ("", "off") else configured


def _own_private_folder(folder: str) -> bool:
    """Create ``folder`` (mode 0700) if needed; true when it is a real folder of the current user."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:  # a read-only home must not break DAG parsing; it only makes it slower
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        log.warning("taskspec: not using the compile cache %s: it is not a folder owned by this user", folder)
        return False
    if info.st_mode & 0o077:
        try:
            os.chmod(folder, 0o700)
        except OSError:
            return False
    return True


class CompileCache:
    """Pickled values by (kind, key). A missing, foreign, truncated or outdated entry reads as None."""

    def __init__(self, folder: str | None = None) -> None:
        folder = folder if folder is not None else cache_folder()
        self.folder = folder if folder is not None and _own_private_folder(folder) else None

    def _path(self, key: str, kind: str) -> str | None:
        return os.path.join(self.folder, f"{key}.{kind}.pickle") if self.folder else None

    def load(self, key: str, kind: str) -> object:
        path = self._path(key, kind)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
                return None
            gc_was_on = gc.isenabled()
            gc.disable()  # unpickling allocates many small objects; collections during it only cost time
            try:
                return pickle.load(fh)
            except Exception:  # noqa: BLE001 - truncated, or classes of another version: recompute
                return None
            finally:
                if gc_was_on:
                    gc.enable()

    def store(self, key: str, kind: str, value: object) -> None:
        path = self._path(key, kind)
        if path is None or self.folder is None:
            return
        try:
            # Written beside its final name and renamed, so a reader in another process never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            pass
