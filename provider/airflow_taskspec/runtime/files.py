"""Reading a file a user put in the DAG folder or named in a spec, without waiting on one that is not a file.

A FIFO opened for reading blocks until something writes to it, and a device can stream forever. Either would
stop the parse of the whole folder, every other project's DAGs with it, until Airflow's parse timeout killed it.
"""

from __future__ import annotations

import errno
import os
import stat


class NotAFile(OSError):
    """The path exists, and is neither a regular file nor a folder."""


_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device"}


def read_regular_file(path: str) -> bytes:
    """The file's bytes. OSError as ``open`` raises it; NotAFile for a FIFO, socket or device, which is never
    read (opened without blocking, then checked)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise NotAFile(0, f"it is {kind}; only regular files are read", path)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)
