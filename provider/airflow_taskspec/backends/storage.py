"""The artifact store as the backends see it: connection options, and the data-set URLs of a TaskRun."""

from __future__ import annotations

from typing import Any

from .. import ir
from ..config import Settings
from ..runtime import layout


def store_options(settings: Settings) -> dict[str, Any]:
    """fsspec options from the artifact store connection (e.g. MinIO endpoint and keys for s3://)."""
    if not settings.artifact_conn_id:
        return {}
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(settings.artifact_conn_id)
    options: dict[str, Any] = {}
    if conn.login:
        options["key"] = conn.login
    if conn.password:
        options["secret"] = conn.password
    extra = conn.extra_dejson or {}
    endpoint = extra.get("endpoint_url") or (conn.host and f"http://{conn.host}:{conn.port or 9000}")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


def data_set_url(use: ir.DataSetUse, settings: Settings) -> str:
    return layout.dataset_url(settings.artifact_store, use.project, use.name)


def data_set_staging(run: ir.TaskRun, settings: Settings) -> list[dict[str, str]]:
    return [{"url": data_set_url(d, settings), "path": d.path} for d in run.data_sets]


def data_set_publishing(run: ir.TaskRun, settings: Settings) -> list[dict[str, str]]:
    return [{"url": data_set_url(d, settings), "path": d.path} for d in run.publishes]
