"""Older AME generations: whole v0/v1 files are recognised and rejected with what to write instead; keys that
older generations used inside a current file are stripped before validation, each with a warning naming its
replacement."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import Diagnostic
from ..diagnostics import warning
from ..yaml import Document

# Keys that AME v0/v1 files used, per place; each maps to what replaced it. They are warnings, never errors.
LEGACY_PROJECT_KEYS = {
    "projectid": "`name:` at the top of the file",
    "data_sets": "`dataSets:` (a list of `{name, path, task}`)",
}
LEGACY_TASK_KEYS = {
    "projectid": "nothing: the project is the file's folder, named by `name:` at the top",
    "runcommand": "`command:` inside the executor (`executor: !pipEnv` then `command: ...`)",
    "command": "`command:` inside the executor (`executor: !pipEnv` then `command: ...`)",
    "taskType": "the executor tag (`executor: !poetry`, `!pip`, `!pipEnv`, `!mlflow` or `!custom`)",
    "task_type": "the executor tag (`executor: !poetry`, `!pip`, `!pipEnv`, `!mlflow` or `!custom`)",
    "templateRef": "`fromTemplate: {name: ...}`",
    "dataSet": "`dataSets:`",
    "source": "nothing: the folder that holds the ame.yaml is the task's source",
}



def check_generation(doc: Document, data: dict[str, Any]) -> None:
    """Reject whole AME v0 and v1 files with a message that says which generation they are."""
    if "projectname" in data or isinstance(data.get("tasks"), dict):
        path: tuple[Any, ...] = ("projectname",) if "projectname" in data else ("tasks",)
        raise doc.error(path, "this is an AME v0 file (`projectname:`, `tasks:` as a map of name to spec, "
                        "`runcommand:`); taskspec reads the current AME format",
                        "write `name: <project>` instead of `projectname:`, make `tasks:` a list of `- name: <task>`, "
                        "and replace `runcommand:` by `executor: !pipEnv` (or !poetry, !pip, !mlflow, !custom) "
                        "with `command:` under it", key=True)
    if "projectid" in data and "name" not in data and "project" not in data:
        raise doc.error(("projectid",), "this is an AME v1 file (`projectid:` instead of `name:`); taskspec reads "
                        "the current AME format",
                        "replace `projectid:` by `name:`, `task_type`/`taskType` and `command:` by `executor: !poetry` "
                        "(or !pip, !pipEnv, !mlflow, !custom) with `command:` under it, `templateRef` by "
                        "`fromTemplate`, and drop `source:`", key=True)


def _task_places(data: dict[str, Any]) -> Iterable[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every mapping in the file that is read as a task, with its path."""
    def walk(node: Any, path: tuple[Any, ...]) -> Iterable[tuple[tuple[Any, ...], dict[str, Any]]]:
        if not isinstance(node, dict):
            return
        yield path, node
        for i, step in enumerate(node.get("pipeline") or [] if isinstance(node.get("pipeline"), list) else []):
            if isinstance(step, list):
                for j, branch in enumerate(step):
                    yield from walk(branch, path + ("pipeline", i, j))
            else:
                yield from walk(step, path + ("pipeline", i))

    def each(key: str) -> list[tuple[int, Any]]:
        value = data.get(key)
        return list(enumerate(value)) if isinstance(value, list) else []

    for key in ("tasks", "templates"):
        for i, task in each(key):
            yield from walk(task, (key, i))
    for i, model in each("models"):
        if isinstance(model, dict):
            training = model.get("training")
            if isinstance(training, dict):
                yield from walk(training.get("task"), ("models", i, "training", "task"))
            yield from walk(model.get("validationTask"), ("models", i, "validationTask"))
            validation = model.get("validation")
            if isinstance(validation, dict):
                yield from walk(validation.get("task"), ("models", i, "validation", "task"))
    for i, data_set in each("dataSets"):
        if isinstance(data_set, dict):
            yield from walk(data_set.get("task"), ("dataSets", i, "task"))


def strip_legacy(doc: Document, data: dict[str, Any]) -> tuple[dict[str, Any], list[Diagnostic], dict[tuple[Any, ...], list[str]]]:
    """A copy of ``data`` without legacy keys, a warning for each, and which keys each task lost."""
    warnings: list[Diagnostic] = []
    stripped: dict[tuple[Any, ...], list[str]] = {}
    replacements: dict[int, dict[str, Any]] = {}  # id(original task mapping) -> cleaned copy

    for path, task in _task_places(data):
        legacy = [k for k in task if k in LEGACY_TASK_KEYS]
        if "taskref" in task:
            warnings.append(warning(doc, path + ("taskref",), "`taskref` is accepted but AME documents `taskRef`",
                                     "write `taskRef:`"))
        if not legacy:
            continue
        stripped[path] = legacy
        for key in legacy:
            warnings.append(warning(doc, path + (key,), f"`{key}` is a key of older AME files and is ignored here",
                                     f"it was replaced by {LEGACY_TASK_KEYS[key]}"))
        replacements[id(task)] = {k: v for k, v in task.items() if k not in LEGACY_TASK_KEYS}

    cleaned = _rebuild(data, replacements)
    for key in [k for k in cleaned if k in LEGACY_PROJECT_KEYS]:
        warnings.append(warning(doc, (key,), f"`{key}` is a key of older AME files and is ignored here",
                                 f"it was replaced by {LEGACY_PROJECT_KEYS[key]}"))
        del cleaned[key]
    return cleaned, warnings, stripped


def _rebuild(node: Any, replacements: dict[int, dict[str, Any]]) -> Any:
    # Copies only what changed, so the Document's own data (and its marks' paths) stay as parsed.
    if isinstance(node, dict):
        base = replacements.get(id(node), node)
        return {k: _rebuild(v, replacements) for k, v in base.items()}
    if isinstance(node, list):
        return [_rebuild(v, replacements) for v in node]
    return node

