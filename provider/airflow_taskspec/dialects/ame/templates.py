"""How AME combines tasks: a template under a task, a pipeline's settings under its steps, a taskRef step over
the task it names. One rule for all three (``merge``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .models import DataSetRef, Task, TemplateRef

SETTINGS = ("resources", "environment", "secrets", "image", "artifacts", "dataSets")
"""Fields a pipeline passes down to its steps, and a taskRef step may set on top of the task it names."""
_KINDS = ("executor", "taskRef", "pipeline")

def merge(base: Task, top: Task) -> Task:
    """``top`` over ``base``: a field set in ``top`` wins; resources merge by name, environment by key,
    secrets by injectAs and data sets by name, entry by entry, with ``top``'s entry winning."""
    update: dict[str, Any] = {f: getattr(top, f) for f in top.model_fields_set}
    if any(k in top.model_fields_set for k in _KINDS):
        for kind in _KINDS:  # a task that says how it runs replaces the template's way entirely
            update.setdefault(kind, None)
    if base.resources and top.resources is not None:
        update["resources"] = {**base.resources, **top.resources}
    if base.environment and top.environment is not None:
        update["environment"] = _merge_keyed(base.environment, top.environment, lambda e: e.key)
    if base.secrets and top.secrets is not None:
        update["secrets"] = _merge_keyed(base.secrets, top.secrets, lambda s: s.injectAs)
    if base.dataSets and top.dataSets is not None:
        update["dataSets"] = _merge_keyed(base.dataSets, top.dataSets, _data_set_key)
    update["fromTemplate"] = None
    return base.model_copy(update=update)


def _merge_keyed(base: list[Any], top: list[Any], key: Callable[[Any], str]) -> list[Any]:
    winners = {key(item): item for item in top}
    merged = [winners.pop(key(item), item) for item in base]
    return merged + [item for item in top if key(item) in winners]


def _data_set_key(ref: DataSetRef | str) -> str:
    return ref if isinstance(ref, str) else f"{ref.ref.project or ''}.{ref.ref.name}"


def settings_of(task: Task) -> Task:
    return Task.model_construct(**{f: getattr(task, f) for f in SETTINGS if f in task.model_fields_set},
                                _fields_set={f for f in SETTINGS if f in task.model_fields_set})



def template_key(ref: TemplateRef | str, own_project: str) -> tuple[str, str]:
    """(project, template) a ``fromTemplate`` names."""
    if isinstance(ref, TemplateRef):
        return ref.project or own_project, ref.name
    project, _, name = ref.rpartition(".")  # the documented dotted form `project.template`
    return project or own_project, name
