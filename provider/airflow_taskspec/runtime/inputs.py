"""A task's inputs, staged into its workspace before it runs (TES inputs, Cytomine App Engine's /inputs).

Each entry of ``ProvisionSpec.inputs`` is one of:

- ``{"name", "url", "path"}``: a file or a folder at any fsspec URL (http(s)://, s3://, file://...), streamed
  to ``path`` in the workspace (a folder's files keep their relative paths);
- ``{"name", "content", "path"}``: inline text written to ``path``;
- ``{"name", "type", "value"}``: a typed parameter's value for this run, written to ``inputs/<name>``: text
  as it is, numbers and booleans as JSON (``3``, ``0.5``, ``true``), arrays as JSON; a ``file`` parameter's
  value is the file's content.

The values were validated before any pod started (the operator checks the run's Params); here they are only
written down.
"""

from __future__ import annotations

import json
import os
from typing import Any

from . import store, transfer
from .store import Log

INPUTS_DIR = "inputs"


def _inside(workspace: str, path: str, name: str) -> str:
    if os.path.isabs(path) or ".." in path.replace("\\", "/").split("/"):
        raise ValueError(f"input {name!r}: path {path!r} leaves the workspace; give a path relative to it")
    return os.path.join(workspace, path)


def value_text(kind: str, value: Any) -> str:
    """How a parameter's value reads in its file (and in its environment variable)."""
    if kind in ("string", "file", "enumeration") and isinstance(value, str):
        return value
    return json.dumps(value)


def stage(entries: list[dict[str, Any]], workspace: str, options: dict[str, Any] | None = None,
          log: Log | None = None) -> list[dict[str, Any]]:
    """Stage every entry; returns what landed where (name, path, files)."""
    staged = []
    for entry in entries:
        name = str(entry["name"])
        if "url" in entry:
            path = str(entry["path"])
            files = _from_url(str(entry["url"]), _inside(workspace, path, name), options, log)
        elif "content" in entry:
            path = str(entry["path"])
            _write(_inside(workspace, path, name), str(entry["content"]))
            files = 1
        else:
            path = f"{INPUTS_DIR}/{name}"
            _write(_inside(workspace, path, name), value_text(str(entry.get("type", "string")), entry.get("value")))
            files = 1
        staged.append({"name": name, "path": path, "files": files})
    return staged


def _write(target: str, text: str) -> None:
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(text)


def _from_url(url: str, target: str, options: dict[str, Any] | None, log: Log | None) -> int:
    source = store.locate(url, options)
    if store.retrying(f"checking {url}", lambda: source.fs.isdir(source.path), log):
        rels = sorted(store.list_files(source))
        transfer.each(lambda rel: transfer.download_file(source.child(rel), os.path.join(target, rel), log=log), rels)
        return len(rels)
    transfer.download_file(source, target, log=log)
    return 1
