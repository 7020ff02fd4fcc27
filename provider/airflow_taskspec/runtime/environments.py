"""Python environments for PEACH tasks on the local backend: built once with uv, then reused.

An environment is named by a hash of what goes into it (Python version and requirement lines), so every
task of an organisation, and every loop iteration after the first, finds it ready. It is built beside its
final place and renamed into it, under a file lock: two tasks asking for the same environment at once build
it once, and neither ever sees a half-built one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class EnvironmentBuildError(Exception):
    """uv could not create the environment or install its requirements."""


@dataclass(frozen=True)
class Ready:
    python: str  # the environment's interpreter
    path: str
    built: bool  # False: it existed and was reused, nothing was installed


def key(requirements: Sequence[str], python_version: str) -> str:
    """The cache key: the same requirements in any order give the same environment."""
    lines = sorted({line.strip() for line in requirements if line.strip()})
    digest = hashlib.sha256("\n".join([f"python={python_version}", *lines]).encode()).hexdigest()
    return digest[:16]


def ensure(requirements: Sequence[str], *, cache_dir: str, python_version: str, uv: str, name: str = "env",
           log: Callable[[str], Any] = print) -> Ready:
    """The environment for ``requirements``: reused when present, otherwise built and moved into place."""
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "env"
    final = os.path.join(cache_dir, f"peach-{safe_name}-py{python_version}-{key(requirements, python_version)}")
    python = os.path.join(final, "bin", "python")
    if os.access(python, os.X_OK):
        log(f"taskspec: reusing the Python environment {final}")
        return Ready(python, final, built=False)
    os.makedirs(cache_dir, exist_ok=True)
    with open(final + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second task waits here, then finds the environment ready
        if os.access(python, os.X_OK):
            log(f"taskspec: reusing the Python environment {final} (built by another task meanwhile)")
            return Ready(python, final, built=False)
        _build(final, requirements, python_version=python_version, uv=uv, log=log)
    return Ready(python, final, built=True)


def _build(final: str, requirements: Sequence[str], *, python_version: str, uv: str,
           log: Callable[[str], Any]) -> None:
    tmp = tempfile.mkdtemp(dir=os.path.dirname(final), prefix=os.path.basename(final) + ".tmp.")
    wanted = [line.strip() for line in requirements if line.strip()]
    log(f"taskspec: creating the Python environment {final} ({len(wanted)} requirements)")
    try:
        _uv(uv, ["venv", "--quiet", "--relocatable", "--python", python_version, tmp], log)
        if wanted:
            requirements_file = tmp + ".requirements.txt"
            with open(requirements_file, "w", encoding="utf-8") as fh:
                fh.write("\n".join(wanted) + "\n")
            try:
                _uv(uv, ["pip", "install", "--quiet", "--python", os.path.join(tmp, "bin", "python"),
                         "-r", requirements_file], log)
            finally:
                os.remove(requirements_file)
        try:
            os.rename(tmp, final)
        except OSError:  # another process (without a working lock, e.g. on NFS) finished first: use its build
            if not os.access(os.path.join(final, "bin", "python"), os.X_OK):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _uv(uv: str, args: list[str], log: Callable[[str], Any]) -> None:
    done = subprocess.run([uv, *args], check=False, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        log(line)
    if done.returncode != 0:
        raise EnvironmentBuildError(f"`uv {' '.join(args[:2])}` failed with exit code {done.returncode}; "
                                "see the lines above")
