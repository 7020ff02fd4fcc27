"""A throw-away PostgreSQL server (Debian's packages) for tests that run Airflow as production does.

    with throwaway_postgres() as url:   # postgresql+psycopg2://airflow@127.0.0.1:PORT/airflow
        ...

initdb as the ``postgres`` user (PostgreSQL refuses to run as root), a free loopback port, the socket in the
test's own folder; stopped with ``pg_ctl stop`` whatever happens. Fails (never skips) when PostgreSQL is missing:
``scripts/test.sh`` installs it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql); scripts/test.sh installs it")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    bin_dir, port = _bin_dir(), _free_port()
    # Not below pytest's tmp_path: its folders are private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="taskspec-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    def run(*cmd: str) -> None:
        proc = subprocess.run(_as_postgres(*cmd), capture_output=True, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stdout}{proc.stderr}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "airflow")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"
    finally:
        subprocess.run(_as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"),
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
