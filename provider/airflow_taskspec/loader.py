"""The DAG folder's entry point: compile every spec file below the folder and register its DAGs.

It never raises: Airflow drops every DAG of a module that raises, so one broken YAML file would hide all the
others. Broken files become one placeholder DAG (``taskspec.broken_files``) that lists their errors instead.
When Airflow runs a task, only the DAG being run is built (``get_parsing_context().dag_id``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .broken_files import BROKEN_FILES_DAG_ID, BrokenFilesMarker, broken_files_dag, resolved_dag
from .checks import Checked, check
from .errors import Diagnostic

log = logging.getLogger(__name__)


def _wanted_dag_id() -> str | None:
    try:
        from airflow.sdk import get_parsing_context

        return get_parsing_context().dag_id
    except Exception:  # noqa: BLE001 -- outside Airflow's parsing (plain imports, tests)
        return None


def load_dags(anchor: str, namespace: dict[str, Any]) -> list[Any]:
    """Compile the folder holding ``anchor`` (the loader file itself, or a folder) into ``namespace``."""
    folder = anchor if os.path.isdir(anchor) else os.path.dirname(os.path.abspath(anchor))
    wanted = _wanted_dag_id()
    # Running the broken-files DAG's task needs every error, so it compiles (and builds) the whole folder.
    only = None if wanted == BROKEN_FILES_DAG_ID else wanted
    try:
        checked = check([folder], only_dag_id=only)
    except Exception as exc:  # a bug of ours must not hide every DAG of the folder: show it instead
        log.exception("taskspec could not compile %s", folder)
        checked = Checked(errors={folder: [Diagnostic(folder, 1, 1, f"taskspec could not compile this folder: {exc}",
                                                      "this is a bug in taskspec; please report it")]})
    for warning in checked.warnings:
        log.warning("%s", warning.format())
    dags = list(checked.dags) if wanted != BROKEN_FILES_DAG_ID else []
    # A full parse (the DAG processor's) records whether it found broken files; the first one that finds
    # none writes the placeholder once more, resolved, with the fixed DAGs (broken_files.py says why).
    had_broken = BrokenFilesMarker(folder).set(bool(checked.errors)) if wanted is None else False
    if checked.errors and (wanted is None or wanted == BROKEN_FILES_DAG_ID):
        dags.append(broken_files_dag(checked.errors))
    elif had_broken or wanted == BROKEN_FILES_DAG_ID:  # a worker runs the resolved entry's task
        dags.append(resolved_dag())
    for i, dag in enumerate(dags):
        namespace[f"taskspec_dag_{i}"] = dag
    return dags
