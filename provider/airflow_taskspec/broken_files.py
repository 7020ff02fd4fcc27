"""The broken-files DAG: one placeholder DAG, beside the loader, that lists every spec file that failed to
compile (file:line:column and the fix) where a user looks, and fails with the same errors when run."""

from __future__ import annotations

import html
from typing import Any

from airflow.sdk import DAG, BaseOperator
from airflow.sdk.exceptions import AirflowException

BROKEN_FILES_DAG_ID = "taskspec.broken_files"


class ReportSpecErrorsOperator(BaseOperator):
    """The one task of the broken-files DAG: it fails with every spec error, so the log shows them too."""

    ui_color = "#fecaca"

    def __init__(self, *, errors: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.errors = errors

    def execute(self, context: Any) -> None:
        for _file, text in sorted(self.errors.items()):
            self.log.error("%s", text)
        raise AirflowException(f"{len(self.errors)} spec file(s) failed to compile; see the errors above")


def broken_files_dag(errors: dict[str, str]) -> DAG:
    listing = "\n\n".join(f"#### `{file}`\n\n```\n{html.escape(text)}\n```" for file, text in sorted(errors.items()))
    with DAG(
        dag_id=BROKEN_FILES_DAG_ID,
        # "!" sorts before letters, so the DAG list (sorted by display name) shows this first.
        dag_display_name=f"! taskspec: {len(errors)} spec file(s) failed to compile ⚠",
        description=_first_error_line(errors)[:200],
        doc_md="## Spec files that failed to compile\n\nFix them; the DAGs appear on the next parse.\n\n" + listing,
        schedule=None,
        catchup=False,
        tags=["taskspec-error"],
    ) as dag:
        ReportSpecErrorsOperator(task_id="report_errors", errors=errors)
    return dag


def _first_error_line(errors: dict[str, str]) -> str:
    """The first error of the first broken file, for the DAG's one-line description."""
    first = errors[min(errors)].splitlines()[0] if errors else ""
    more = f" (and {len(errors) - 1} more file(s))" if len(errors) > 1 else ""
    return first + more
