"""The artifact store as the backends see it: connection options, and the data-set URLs of a TaskRun."""

from __future__ import annotations

from typing import Any

from .. import ir
from ..config import Settings
from ..runtime import layout


def store_options(settings: Settings) -> dict[str, Any]:
    """fsspec options for filer pods: what the store's filesystem (built by Airflow's object storage from
    ``artifact_conn_id``) needs besides credentials; keys stay on the worker (pods get theirs from
    ``artifact_secret``)."""
    from .. import artifact_store

    return artifact_store.pod_options(artifact_store.filesystem(settings))


def data_set_url(use: ir.DataSetUse, settings: Settings) -> str:
    return layout.dataset_url(settings.artifact_store, use.project, use.name)


def data_set_staging(run: ir.TaskRun, settings: Settings) -> list[dict[str, str]]:
    return [{"url": data_set_url(d, settings), "path": d.path} for d in run.data_sets]


def data_set_publishing(run: ir.TaskRun, settings: Settings) -> list[dict[str, str]]:
    return [{"url": data_set_url(d, settings), "path": d.path} for d in run.publishes]
