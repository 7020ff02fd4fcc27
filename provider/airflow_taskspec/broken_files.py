"""The broken-files DAG: one placeholder DAG, beside the loader, that lists every spec file that failed to
compile (file:line:column and the fix) where a user looks, and fails with the same errors when run."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from .build import code_block
from .errors import Diagnostic

BROKEN_FILES_DAG_ID = "taskspec.broken_files"


class ReportSpecErrorsOperator(BaseOperator):
    """The one task of the broken-files DAG: it fails with every spec error, so the log shows them too."""

    ui_color = "#fecaca"

    def __init__(self, *, errors: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.errors = errors

    def execute(self, context: Any) -> None:
        for _file, lines in sorted(self.errors.items()):
            for line in lines:
                self.log.error("%s", line)
        # Retrying cannot fix a file: only editing it can.
        raise AirflowFailException(f"{len(self.errors)} spec file(s) failed to compile; see the errors above")


def error_line(diagnostic: Diagnostic) -> str:
    """One error on one line: where, what, and how to fix it."""
    hint = f" (fix: {diagnostic.hint})" if diagnostic.hint else ""
    return f"{diagnostic.file}:{diagnostic.line}:{diagnostic.column}: {diagnostic.message}{hint}"


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


def _first_error(errors: dict[str, list[Diagnostic]]) -> str:
    """The first error of the first broken file, for the DAG's one-line description (shown on its page)."""
    if not errors:
        return ""
    first = min(errors[min(errors)], key=lambda d: (d.line, d.column))
    more = f" (and {len(errors) - 1} more file(s))" if len(errors) > 1 else ""
    return f"{first.file}:{first.line}:{first.column}: {first.message}{more}"
