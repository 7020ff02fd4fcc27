"""Where a run's things live, in the workspace root and in the artifact store. Pure functions of names.

The store (documented in docs/storage.md)::

    artifacts/<project>/<task>/<run>/<step>/     a step's saved files: manifest.json + files/
    datasets/<project>/<name>/v000001-<id>/      data-set versions: manifest.json + files/
    projects/<sha256>/                           project folders, uploaded once per content hash
    runs/<project>/<task>/<run>/<step>/          a run's internals: files handed to later steps, results

``<project>/<task>`` is the DAG id ``<project>.<task>`` split at its first dot; ``<run>`` is the Airflow
run id with ``:`` written as ``-`` (``manual__2026-11-21T10-00-00+00-00``).
"""

from __future__ import annotations

import os
import re

from .store import join

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe(part: str) -> str:
    """A name as one portable path segment, as readable as it was: ``:`` becomes ``-``, other characters
    that object stores or shells treat specially become ``_``."""
    return _UNSAFE.sub("_", part.replace(":", "-")).strip("_") or "_"


def dag_folders(dag_id: str) -> tuple[str, ...]:
    """``house_prices.compare`` -> (``house_prices``, ``compare``); a DAG id without a dot stays one folder."""
    project, dot, task = dag_id.partition(".")
    return (safe(project), safe(task)) if dot and task else (safe(dag_id),)


def workspace_dir(root: str, dag_id: str, run_id: str, step: str) -> str:
    return os.path.join(root, safe(dag_id), safe(run_id), safe(step))


def artifact_url(store: str, dag_id: str, run_id: str, step: str) -> str:
    """Artifacts of one step of one run: ``artifacts/<project>/<task>/<run>/<step>``."""
    return join(store, "artifacts", *dag_folders(dag_id), safe(run_id), safe(step))


def exchange_url(store: str, dag_id: str, run_id: str, step: str) -> str:
    """Files a pipeline step changed, for the steps after it in the same run."""
    return join(store, "runs", *dag_folders(dag_id), safe(run_id), safe(step), "handoff")


def dataset_url(store: str, project: str, name: str) -> str:
    """A data set's versions: ``datasets/<project>/<name>``."""
    return join(store, "datasets", safe(project), safe(name))


def project_url(store: str, digest: str) -> str:
    """A project folder uploaded once per content hash (kubernetes backend)."""
    return join(store, "projects", digest)
