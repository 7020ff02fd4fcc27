"""Older AME generations: whole v0/v1 files are recognised and rejected with what to write instead; keys that
older generations used inside a current file are stripped before validation, each with a warning naming its
replacement."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import Diagnostic, SpecError
from ..diagnostics import WHOLE_FILE, warning
from ..yaml import TAG_KEY, Document

# Keys that AME v0/v1 files used, per place; each maps to what replaced it. They are warnings, never errors.
# `{tag}` is the executor tag the file most likely wants (see ``suggested_tag``).
LEGACY_PROJECT_KEYS = {
    "projectid": "`name:` at the top of the file",
    "data_sets": "`dataSets:` (a list of `{{name, path, task}}`)",
}
LEGACY_TASK_KEYS = {
    "projectid": "nothing: the project is the file's folder, named by `name:` at the top",
    "runcommand": "`command:` inside the executor (`executor: !{tag}` then `command: ...`)",
    "command": "`command:` inside the executor (`executor: !{tag}` then `command: ...`)",
    "taskType": "the executor tag (`executor: !{tag}`; or !poetry, !pip, !pipEnv, !mlflow, !custom)",
    "task_type": "the executor tag (`executor: !{tag}`; or !poetry, !pip, !pipEnv, !mlflow, !custom)",
    "templateRef": "`fromTemplate: {{name: ...}}`",
    "dataSet": "`dataSets:`",
    "source": "nothing: the folder that holds the ame.yaml is the task's source",
}
LEGACY_MODEL_KEYS = {
    "type": "the executor of the model's training task (`executor: !mlflow` for an MLflow model)",
}
COMMAND_KEYS = ("command", "runcommand")
FALLBACK_TAG = "pipEnv"  # AME v1 ran a task without an executor with pipenv


def suggested_tag(data: dict[str, Any], task: dict[str, Any] | None = None) -> str | None:
    """The executor tag a legacy task most likely wants: its own command's (`mlflow run`), else the tag most
    tasks of the file use; None when the file gives no clue."""
    command = next((task.get(k) for k in COMMAND_KEYS if task and isinstance(task.get(k), str)), "")
    if str(command).split()[:1] == ["mlflow"]:
        return "mlflow"
    tags = [t["executor"][TAG_KEY] for _, t in _task_places(data)
            if isinstance(t.get("executor"), dict) and isinstance(t["executor"].get(TAG_KEY), str)]
    return max(set(tags), key=lambda tag: (tags.count(tag), tag)) if tags else None


def check_generation(doc: Document, data: dict[str, Any]) -> None:
    """Reject whole AME v0 and v1 files with a message that says which generation they are."""
    tasks = data.get("tasks")
    # v0's `tasks:` maps each name to a spec; a current file's `tasks: {name: t}` only lacks the list's `- `.
    v0_tasks = isinstance(tasks, dict) and all(isinstance(v, dict) for v in tasks.values()) \
        and "name" not in data and "project" not in data
    if "projectname" in data or v0_tasks:
        path: tuple[Any, ...] = ("projectname",) if "projectname" in data else ("tasks",)
        raise doc.error(path, "this is an AME v0 file (`projectname:`, `tasks:` as a map of name to spec, "
                        "`runcommand:`); taskspec reads the current AME format",
                        "write `name: <project>` instead of `projectname:`, make `tasks:` a list of `- name: <task>`, "
                        "and replace `runcommand:` by `executor: !pipEnv` (or !poetry, !pip, !mlflow, !custom) "
                        "with `command:` under it", key=True)
    if "projectid" in data and "name" not in data and "project" not in data:
        raise SpecError(_v1_errors(doc, data))


_MOVE_COMMAND = ("move it under the executor: `executor: !{tag}`, then `command: {value}` indented below "
                 "the tag")
V1_MIGRATION = {
    "projectid": "delete this line: the project is named once, by `name:` at the top of the file",
    "runcommand": _MOVE_COMMAND,
    "command": _MOVE_COMMAND,
    "taskType": "delete it and give the task an executor tag instead: `executor: !{tag}`",
    "task_type": "delete it and give the task an executor tag instead: `executor: !{tag}`",
    "templateRef": "write `fromTemplate: {{name: {value}}}` instead",
    "dataSet": "delete it and declare the data set under `dataSets:` at the top (`- name:`, `path:`, "
               "`task:`)",
    "source": "delete this line: the folder that holds the ame.yaml is the task's source",
}
"""How to migrate each key of an AME v1 task (docs/ame.md, "Migrating an AME v1 file", is the same table)."""

_ANY_TAG = ("; for TAG write the executor of the folder's project files: poetry (pyproject.toml and "
            "poetry.lock), pipEnv (a Pipfile), pip (requirements.txt), mlflow (an MLproject), else custom")


def _v1_errors(doc: Document, data: dict[str, Any]) -> list[Diagnostic]:
    """The whole-file error of an AME v1 file, naming every v1 key in it, then one error per key (but the
    top-level `projectid`, which the first error covers) saying exactly how to migrate it."""
    written = data["projectid"] if isinstance(data["projectid"], str) else "<project>"
    found: list[tuple[str, tuple[Any, ...], str]] = [("projectid", ("projectid",), "")]  # key, path, how
    for key in (k for k in data if k in LEGACY_PROJECT_KEYS and k != "projectid"):
        found.append((key, (key,), f"write {LEGACY_PROJECT_KEYS[key].format()} instead"))
    for path, task in _task_places(data):
        tag = suggested_tag(data, task)
        for key in (k for k in task if k in V1_MIGRATION):
            value = task[key] if isinstance(task[key], str) else "..."
            how = V1_MIGRATION[key].format(tag=tag or "TAG", value=value)
            found.append((key, path + (key,), how if tag or "TAG" not in how else how + _ANY_TAG))
    for path, model in _models(data):
        for key in (k for k in model if k in LEGACY_MODEL_KEYS):
            found.append((key, path + (key,), f"delete it: it was replaced by {LEGACY_MODEL_KEYS[key]}"))
    marks = [(key, doc.mark(path, key=True), how) for key, path, how in found]
    lines: dict[str, list[str]] = {}
    for key, m, _ in marks:
        lines.setdefault(key, []).append(str(m.line))
    listed = ", ".join(f"`{key}` (line{'s' if len(at) > 1 else ''} {', '.join(at)})"
                       for key, at in lines.items())
    first = marks[0][1]
    message = ("this is an AME v1 file (`projectid:` instead of `name:`); taskspec reads the current AME "
               f"format. AME v1 keys in it: {listed}")
    hint = (f"replace `projectid:` by `name:` (`name: {written}`) and migrate each other v1 key as its error "
            f"says (the table is in docs/ame.md, \"Migrating an AME v1 file\"); {WHOLE_FILE}")
    errors = [Diagnostic(doc.file, first.line, first.column, message, hint)]
    errors += [Diagnostic(doc.file, m.line, m.column, f"`{key}` is a key of AME v1", how)
               for key, m, how in marks[1:]]
    return errors


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
    replacements: dict[int, dict[str, Any]] = {}  # id(original mapping) -> cleaned copy

    for path, task in _task_places(data):
        legacy = [k for k in task if k in LEGACY_TASK_KEYS]
        if "taskref" in task:
            warnings.append(warning(doc, path + ("taskref",), "`taskref` is accepted but AME documents `taskRef`",
                                     "write `taskRef:`"))
        if not legacy:
            continue
        stripped[path] = legacy
        tag = suggested_tag(data, task) or FALLBACK_TAG
        for key in legacy:
            warnings.append(warning(doc, path + (key,), f"`{key}` is a key of older AME files and is ignored here",
                                     _task_key_hint(task, key, tag)))
        replacements[id(task)] = {k: v for k, v in task.items() if k not in LEGACY_TASK_KEYS}

    for path, model in _models(data):
        legacy = [k for k in model if k in LEGACY_MODEL_KEYS]
        for key in legacy:
            warnings.append(warning(doc, path + (key,), f"`{key}` is a key of older AME models and is ignored here",
                                     f"it was replaced by {LEGACY_MODEL_KEYS[key]}"))
        if legacy:
            replacements[id(model)] = {k: v for k, v in model.items() if k not in LEGACY_MODEL_KEYS}

    cleaned = _rebuild(data, replacements)
    for key in [k for k in cleaned if k in LEGACY_PROJECT_KEYS]:
        warnings.append(warning(doc, (key,), f"`{key}` is a key of older AME files and is ignored here",
                                 f"it was replaced by {LEGACY_PROJECT_KEYS[key].format()}"))
        del cleaned[key]
    return cleaned, warnings, stripped


def _task_key_hint(task: dict[str, Any], key: str, tag: str) -> str:
    """What replaced a legacy task key; for a command beside an executor, where exactly to move it."""
    executor = task.get("executor")
    own_tag = executor.get(TAG_KEY) if isinstance(executor, dict) else None
    if key in COMMAND_KEYS and isinstance(executor, dict) and isinstance(own_tag, str):
        if executor.get("command") is not None:
            return (f"it was replaced by `command:` inside the executor, and this task's `executor: !{own_tag}` "
                    "has one, which is what runs: remove this line")
        return (f"it was replaced by `command:` inside the executor: move `command:` under `executor: !{own_tag}` "
                "(indented below the tag)")
    return f"it was replaced by {LEGACY_TASK_KEYS[key].format(tag=tag)}"


def _models(data: dict[str, Any]) -> Iterable[tuple[tuple[Any, ...], dict[str, Any]]]:
    models = data.get("models")
    for i, model in enumerate(models if isinstance(models, list) else []):
        if isinstance(model, dict):
            yield ("models", i), model


def _rebuild(node: Any, replacements: dict[int, dict[str, Any]]) -> Any:
    # Copies only what changed, so the Document's own data (and its marks' paths) stay as parsed.
    if isinstance(node, dict):
        base = replacements.get(id(node), node)
        return {k: _rebuild(v, replacements) for k, v in base.items()}
    if isinstance(node, list):
        return [_rebuild(v, replacements) for v in node]
    return node

