"""The broken-files DAG: one placeholder DAG, beside the loader, that lists every spec file that failed to
compile (file:line:column and the fix) where a user looks, and fails with the same errors when run.

Going away when the files are fixed: Airflow removes a DAG that a file stopped producing only at a later
cleanup scan (``[dag_processor] stale_dag_threshold`` after that file's last parse), never in the parse itself,
and an import error cannot carry our errors (one reported for the loader file marks every DAG of that file
stale at once). So the parse that finds no broken file any more, and brings the fixed DAGs back, rewrites the
placeholder in the same database write as a "resolved" entry (no error, no ``taskspec-error`` tag), and the
parse after it drops the entry; ``make run`` sets ``stale_dag_threshold = 0`` so Airflow deactivates it at
its next cleanup scan (``parsing_cleanup_interval``, 1 s) instead of 50 s later. Whether the last parse had
broken files is a marker file in the compile-cache folder (``BrokenFilesMarker``).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from .build import code_block
from .errors import Diagnostic, shown

BROKEN_FILES_DAG_ID = "taskspec.broken_files"


class ReportSpecErrorsOperator(BaseOperator):
    """The one task of the broken-files DAG: it fails with every spec error, so the log shows them too."""

    ui_color = "#fecaca"

    def __init__(self, *, errors: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.errors = errors

    def execute(self, context: Any) -> None:
        if not self.errors:  # the resolved entry: every spec file compiles again
            self.log.info("no spec file fails to compile any more")
            return
        for _file, lines in sorted(self.errors.items()):
            for line in lines:
                self.log.error("%s", line)
        # Retrying cannot fix a file: only editing it can.
        raise AirflowFailException(f"{len(self.errors)} spec file(s) failed to compile; see the errors above")


def error_line(diagnostic: Diagnostic) -> str:
    """One error on one line: where, what, and how to fix it."""
    hint = f" (fix: {diagnostic.hint})" if diagnostic.hint else ""
    return shown(f"{diagnostic.file}:{diagnostic.line}:{diagnostic.column}: error: {diagnostic.message}{hint}")


def docs(errors: dict[str, list[Diagnostic]]) -> str:
    """Markdown for the DAG page: the count, then per file one line per error inside a code block (the text is
    the user's and shown as written: no Markdown, no HTML entities)."""
    count = sum(len(found) for found in errors.values())
    parts = [f"## {len(errors)} spec file(s) failed to compile ({count} error(s))",
             "Fix them; their DAGs appear at the next parse of the DAG folder, and this DAG goes away."]
    for file in sorted(errors):
        found = sorted(errors[file], key=lambda d: (d.line, d.column))
        parts.append(f"#### `{file}`\n\n" + code_block("\n".join(error_line(d) for d in found), "text"))
    return "\n\n".join(parts)


def broken_files_dag(errors: dict[str, list[Diagnostic]]) -> DAG:
    with DAG(
        dag_id=BROKEN_FILES_DAG_ID,
        # "!" sorts before letters, so the DAG list (sorted by display name) shows this first.
        dag_display_name=f"! taskspec: {len(errors)} spec file(s) failed to compile ⚠",
        description=_first_error(errors)[:200],
        doc_md=docs(errors),
        schedule=None,
        catchup=False,
        tags=["taskspec-error"],
    ) as dag:
        ReportSpecErrorsOperator(task_id="report_errors",
                                 errors={f: [error_line(d) for d in found] for f, found in errors.items()})
    return dag


RESOLVED_DISPLAY_NAME = "taskspec: no broken spec files (this entry goes away at the next parse)"


def resolved_dag() -> DAG:
    """The placeholder as the parse that fixed the last broken file writes it: nothing is broken any more."""
    with DAG(
        dag_id=BROKEN_FILES_DAG_ID,
        dag_display_name=RESOLVED_DISPLAY_NAME,
        description="Every spec file compiles again.",
        doc_md="## Every spec file compiles again\n\nThis entry goes away at the next parse of the DAG folder.",
        schedule=None,
        catchup=False,
        tags=["taskspec"],
    ) as dag:
        ReportSpecErrorsOperator(task_id="report_errors", errors={})
    return dag


class BrokenFilesMarker:
    """Whether the last full parse of a DAG folder had broken files: one empty file per folder in the
    compile-cache folder (private to this user). Without a usable cache folder the resolved entry is never
    written, and the placeholder goes away at Airflow's cleanup scan alone."""

    def __init__(self, folder: str) -> None:
        import hashlib
        import os

        from .compile_cache import cache_folder

        cache = cache_folder()
        digest = hashlib.sha256(os.path.abspath(folder).encode()).hexdigest()[:16]
        self.path = os.path.join(cache, f"broken-files-{digest}") if cache else None

    def set(self, broken: bool) -> bool:
        """Record this parse's state; true when the previous full parse had broken files."""
        import os

        if self.path is None:
            return False
        was = os.path.exists(self.path)
        try:
            if broken and not was:
                os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
                with open(self.path, "w"):
                    pass
            elif not broken and was:
                os.remove(self.path)
        except OSError:  # a read-only cache folder must not break parsing
            pass
        return was


def _first_error(errors: dict[str, list[Diagnostic]]) -> str:
    """The first error of the first broken file, for the DAG's one-line description (shown on its page)."""
    if not errors:
        return ""
    first = min(errors[min(errors)], key=lambda d: (d.line, d.column))
    more = f" (and {len(errors) - 1} more file(s))" if len(errors) > 1 else ""
    return shown(f"{first.file}:{first.line}:{first.column}: {first.message}{more}")
