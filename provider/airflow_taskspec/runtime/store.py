"""The artifact store: any fsspec URL (file://, s3://, gs://, memory://...)."""

from __future__ import annotations

import os
from typing import Any

import fsspec


def _fs(url: str, options: dict[str, Any] | None) -> tuple[Any, str]:
    fs, path = fsspec.core.url_to_fs(url, **(options or {}))
    return fs, path


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/")] + [p.strip("/") for p in parts if p])


def upload(root: str, rel_paths: list[str], dest_url: str, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Copy files from a workspace to the store; returns one record per file (url, path, size)."""
    fs, base = _fs(dest_url, options)
    records: list[dict[str, Any]] = []
    for rel in rel_paths:
        src = os.path.join(root, rel)
        target = base.rstrip("/") + "/" + rel.replace(os.sep, "/")
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(src, target)
        records.append({"url": join(dest_url, rel.replace(os.sep, "/")), "path": rel, "size": os.path.getsize(src)})
    return records


def exists(url: str, options: dict[str, Any] | None = None) -> bool:
    fs, path = _fs(url, options)
    return bool(fs.exists(path))


def write_bytes(url: str, data: bytes, options: dict[str, Any] | None = None) -> None:
    """Write one small object (a marker, a JSON result), creating its folder where the store has folders."""
    fs, path = _fs(url, options)
    parent = path.rsplit("/", 1)[0]
    if parent and parent != path:
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(path, data)


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
