"""The one task of the broken-files DAG: it fails with every spec error, so the log shows them too."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException


class ReportSpecErrorsOperator(BaseOperator):
    ui_color = "#fecaca"

    def __init__(self, *, errors: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.errors = errors

    def execute(self, context: Any) -> None:
        for file, text in sorted(self.errors.items()):
            self.log.error("%s", text)
        raise AirflowException(f"{len(self.errors)} spec file(s) failed to compile; see the errors above")
