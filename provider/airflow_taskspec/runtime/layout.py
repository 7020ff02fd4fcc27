"""Where a run's things live, in the workspace root and in the artifact store. Pure functions of names."""

from __future__ import annotations

import os
import re

from .store import join

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe(part: str) -> str:
    """A run id such as ``manual__2026-11-21T10:00:00+00:00`` as one portable path segment."""
    return _UNSAFE.sub("_", part).strip("_") or "_"


def workspace_dir(root: str, dag_id: str, run_id: str, step: str) -> str:
    return os.path.join(root, safe(dag_id), safe(run_id), safe(step))


def artifact_url(store: str, dag_id: str, run_id: str, step: str) -> str:
    """Artifacts of one step of one run: ``artifacts/<project>.<task>/<run>/<step>/``."""
    return join(store, "artifacts", safe(dag_id), safe(run_id), safe(step))


def exchange_url(store: str, dag_id: str, run_id: str, step: str) -> str:
    """Files a pipeline step changed, for the steps after it in the same run."""
    return join(store, "runs", safe(dag_id), safe(run_id), safe(step), "changed")


def dataset_url(store: str, project: str, name: str) -> str:
    """The latest published contents of a data set."""
    return join(store, "datasets", safe(project), safe(name))


def project_url(store: str, digest: str) -> str:
    """A project folder uploaded once per content hash (kubernetes backend)."""
    return join(store, "projects", digest)
