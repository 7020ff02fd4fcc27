"""JSON Schema of PEACH task files (`taskspec schema peach`), from the models plus the reserved key."""

from __future__ import annotations

from typing import Any

from ..json_schema import from_models
from .models import RESERVED_TASK_KEY, PeachFile


def json_schema() -> dict[str, Any]:
    schema = from_models(PeachFile, "PEACH task file",
                         "peach.yaml or peach.conf/*.yaml: an organisation's (codops) tasks, run by taskspec as "
                         "the continuous DAG peach.<codops> (and peach.metadata for `loop: metadata`).")
    tasks = schema["properties"]["tasks"]
    # `tasks.dependencies` is a list of requirements (legacy generation), every other key a task.
    tasks["properties"] = {RESERVED_TASK_KEY: {"type": "array", "items": {"type": "string"},
                                               "description": "requirements of every task (legacy)"}}
    return schema
