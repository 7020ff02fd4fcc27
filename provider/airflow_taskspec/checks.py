"""The one check of spec files: what the loader, the broken-files DAG and `taskspec validate` all report.

Compile every spec file (``resolve``), then build every DAG with the backend, as the DAG processor does: what
only Airflow or a backend rejects (a Kubernetes Secret name, a missing Vault role, an id Airflow refuses) is an
error of the file that defines the DAG, at the DAG's place in it. Nothing raised while building one DAG stops
the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import resolve
from .errors import Diagnostic

log = logging.getLogger(__name__)


@dataclass
class Checked:
    dags: list[Any] = field(default_factory=list)  # the built Airflow DAGs
    errors: dict[str, list[Diagnostic]] = field(default_factory=dict)  # spec file -> its errors
    warnings: list[Diagnostic] = field(default_factory=list)
    compiled: int = 0  # workflows that compiled (built or not)

    def add_error(self, diagnostic: Diagnostic) -> None:
        found = self.errors.setdefault(diagnostic.file, [])
        if diagnostic not in found:
            found.append(diagnostic)


def check(paths: Iterable[str], *, only_dag_id: str | None = None, backend_name: str | None = None) -> Checked:
    """Compile ``paths`` and build their DAGs (only ``only_dag_id``'s when given) with the configured backend, or
    ``backend_name``'s. Bad configuration is reported as an error of the first path, never raised."""
    from dataclasses import replace

    from . import build
    from .backends import for_settings
    from .config import ConfigError, settings

    roots = list(paths)
    result = Checked()
    compilation = resolve.compile_paths(roots, only_dag_id=only_dag_id)
    for error in compilation.errors.values():
        for diagnostic in error.errors:
            result.add_error(diagnostic)
    errors = [d for listed in result.errors.values() for d in listed]
    result.warnings = [d for d in compilation.diagnostics() if d not in errors]
    result.compiled = len(compilation.workflows)
    try:
        cfg = settings()
        if backend_name:
            cfg = replace(cfg, backend=backend_name)
        backend = for_settings(cfg)
    except ConfigError as exc:
        where = roots[0] if roots else "."
        result.add_error(Diagnostic(where, 1, 1, f"bad configuration: {exc}", "fix the [taskspec] option named"))
        return result
    for workflow in compilation.workflows:
        if only_dag_id is not None and workflow.dag_id != only_dag_id:
            continue
        try:
            result.dags.append(build.build_dag(workflow, backend))
        except Exception as exc:  # a backend or Airflow refusal, or a bug of ours: this DAG's error only
            log.debug("building DAG %s failed", workflow.dag_id, exc_info=True)
            origin = workflow.origin
            result.add_error(Diagnostic(
                origin.file, origin.line, origin.column,
                f"DAG {workflow.dag_id} cannot be built with the {cfg.backend} backend: {_one_line(exc)}",
                "fix the value named above; `taskspec validate` checks the same"))
    return result


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
