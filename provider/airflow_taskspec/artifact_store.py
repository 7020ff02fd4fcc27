"""The artifact store as the Airflow worker reaches it: Airflow's own object-storage integration.

``[taskspec] artifact_store`` is any URL Airflow's ``ObjectStoragePath`` understands; ``artifact_conn_id`` names
the Airflow connection with its credentials. The filesystem then comes from the provider that owns the
scheme (``s3://`` from the Amazon provider with an ``aws`` connection, ``gs://`` from the Google provider,
``abfs://`` from the Microsoft Azure one...), configured exactly as Airflow users configure those
connections, with no mapping of ours in between. Without a connection, file:// and any fsspec URL work with
the filesystem's own defaults (environment credentials).

Filer pods have no Airflow: they build their filesystem from the URL, the JSON-able options below (never a
credential), and the credentials in their environment (``[taskspec] artifact_secret``).
"""

from __future__ import annotations

import json
from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from .config import Settings
from .runtime.store import Location, locate

# Storage options that carry or hold credentials, and stay on the worker.
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "session", "sas", "connection_string")


def filesystem(settings: Settings) -> AbstractFileSystem:
    """The filesystem ObjectStoragePath(artifact_store, conn_id=artifact_conn_id) would use, built afresh:
    ObjectStoragePath keeps one per scheme and connection id for the life of the process, which would keep
    a changed connection's old credentials and endpoint."""
    from airflow.sdk.io import get_fs

    scheme = fsspec.core.split_protocol(settings.artifact_store)[0] or "file"
    conn_id = settings.artifact_conn_id or None
    try:
        return get_fs(scheme, conn_id)
    except ValueError:  # no Airflow provider registers this scheme
        if conn_id:
            raise ValueError(
                f"[taskspec] artifact_store {settings.artifact_store!r} with artifact_conn_id {conn_id!r}: no "
                f"installed Airflow provider handles {scheme}:// (for s3:// install "
                "apache-airflow-providers-amazon[s3fs]; see docs/storage.md)") from None
        return fsspec.filesystem(scheme)  # any fsspec filesystem, with its own defaults


def location(settings: Settings, url: str | None = None) -> Location:
    """``url`` (default: the store's root) on the worker's authenticated filesystem."""
    return locate(url or settings.artifact_store, fs=filesystem(settings))


def pod_options(fs: AbstractFileSystem) -> dict[str, Any]:
    """The filesystem's options a filer pod needs to reach the same store (endpoint, region, addressing
    style...): only JSON-able values, never one that carries a credential."""
    return _without_secrets(dict(getattr(fs, "storage_options", None) or {}))


def _without_secrets(options: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in options.items():
        if any(word in str(name).lower() for word in _SECRET_WORDS):
            continue
        if isinstance(value, dict):
            value = _without_secrets(value)  # client_kwargs may hold keys too
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[str(name)] = value
    return kept
