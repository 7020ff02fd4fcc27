"""The DAG folder's entry point: compile every spec file below the folder and register its DAGs.

It never raises: Airflow drops every DAG of a module that raises, so one broken YAML file would hide all the
others. Broken files become one placeholder DAG (``taskspec.broken_files``) that lists their errors instead.
When Airflow runs a task, only the DAG being run is built (``get_parsing_context().dag_id``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from . import build, resolve
from .backends import for_settings
from .broken_files import BROKEN_FILES_DAG_ID, broken_files_dag
from .config import settings

log = logging.getLogger(__name__)


def _wanted_dag_id() -> str | None:
    try:
        from airflow.sdk import get_parsing_context

        return get_parsing_context().dag_id
    except Exception:  # outside Airflow's parsing (plain imports, tests)
        return None


def load_dags(anchor: str, namespace: dict[str, Any]) -> list[Any]:
    """Compile the folder holding ``anchor`` (the loader file itself, or a folder) into ``namespace``."""
    folder = anchor if os.path.isdir(anchor) else os.path.dirname(os.path.abspath(anchor))
    wanted = _wanted_dag_id()
    errors: dict[str, str] = {}
    dags: list[Any] = []
    try:
        compilation = resolve.compile_paths([folder], only_dag_id=wanted)
        errors.update({file: err.format() for file, err in compilation.errors.items()})
        for warning in compilation.warnings:
            log.warning("%s", warning.format())
        backend = for_settings(settings())
        for workflow in compilation.workflows:
            if wanted and workflow.dag_id != wanted:
                continue
            try:
                dags.append(build.build_dag(workflow, backend))
            except Exception as exc:  # a bug of ours must not hide other DAGs either
                log.exception("building DAG %s failed", workflow.dag_id)
                errors[workflow.source_file] = f"{workflow.source_file}: building DAG {workflow.dag_id} failed: {exc}"
    except Exception as exc:
        log.exception("taskspec could not compile %s", folder)
        errors[folder] = f"{folder}: taskspec could not compile this folder: {exc}"
    if errors and (wanted is None or wanted == BROKEN_FILES_DAG_ID):
        dags.append(broken_files_dag(errors))
    for i, dag in enumerate(dags):
        namespace[f"taskspec_dag_{i}"] = dag
    return dags
