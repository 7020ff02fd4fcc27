"""Paths a task file names inside a task's workspace (artifacts, data sets): they must stay inside it.

The runtime copies these paths out of (or into) the workspace; an absolute path or one that climbs out with
``..`` would reach the worker's or the pod's own files, so it is rejected when the file is compiled.
"""

from __future__ import annotations

import posixpath
import re

_VALID_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


def check_inside(what: str, value: str) -> str:
    """The path, or ValueError saying why it leaves the workspace and how to write it."""
    if not value.strip():
        raise ValueError(f"{what} is empty; write a path relative to the project folder, for example `data`")
    if value.startswith(("/", "\\", "~")) or (len(value) > 1 and value[1] == ":"):
        raise ValueError(f"{what} '{value}' is absolute; write it relative to the project folder "
                         f"(for example `{value.lstrip('/~').split(':', 1)[-1].lstrip('/') or 'data'}`)")
    if posixpath.normpath(value.replace("\\", "/")).split("/")[0] == "..":
        raise ValueError(f"{what} '{value}' leaves the project folder with '..'; write a path inside it")
    return value


def check_url(what: str, value: str) -> str:
    """The URL, or ValueError when it is empty or its scheme (before ``://``) cannot be one: the transfer
    would fail only when the task runs. A text without ``://`` is a path on the worker, as fsspec reads it."""
    if not value.strip():
        raise ValueError(f"{what} is empty; write a URL such as `s3://bucket/path`")
    if "://" in value:  # as fsspec splits it: the protocol is all before the first "://"
        protocol = value.split("://", 1)[0]
        # fsspec chains protocols with "::" (`simplecache::s3://...`); each must be a scheme.
        if not all(_VALID_SCHEME.match(part) for part in protocol.split("::")):
            raise ValueError(f"{what} '{value}' has no valid scheme before '://' ('{protocol}'); "
                             "write it like `s3://bucket/path`, `gs://...`, `https://...` or `file:///...`")
    return value
