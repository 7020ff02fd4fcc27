"""Reading one AME file: YAML -> generation check -> legacy keys -> models, keeping every valid part.

An error inside one item (a task, template, model or data set) drops that item only: it is replaced by a
placeholder that keeps its name and position, so marks still point at the right lines, a reference to it says
that it has errors, and the file's other DAGs are still built. An error in a whole section (``tasks: 5``) drops
that section; an unknown top-level key is dropped. Errors about the file as a whole stop the file, and say so:
a file that is not a mapping or is of an older AME generation raises; a bad or missing project name
(``blocking``) keeps every DAG of the file from being built, but the rest of the file is still checked and
normalised under a stand-in name, so one pass reports every error of the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ...errors import Diagnostic, SpecError
from ..diagnostics import (
    clean_loc,
    model_diagnostic,
    most_specific,
    stops_the_file,
    warning,
    without_misspelled,
)
from ..yaml import Document, load
from .legacy import check_generation, strip_legacy
from .models import DataSet, Model, Project, Task, Training

SECTIONS = ("tasks", "templates", "models", "dataSets")
"""The lists of named items a file holds; an error inside one item leaves the others usable."""

Item = tuple[str, int]  # (section, index in the file)


@dataclass
class ParsedSpec:
    """One AME file, validated as far as it is valid. Picklable, so resolve can cache it by content hash."""

    doc: Document
    project: Project
    warnings: list[Diagnostic] = field(default_factory=list)
    legacy_keys: dict[tuple[Any, ...], list[str]] = field(default_factory=dict)  # task path -> stripped keys
    errors: list[Diagnostic] = field(default_factory=list)  # errors of the items in ``broken``
    broken: dict[Item, int] = field(default_factory=dict)  # item with errors -> line of its first error
    blocking: list[Diagnostic] = field(default_factory=list)  # errors that keep every DAG of the file unbuilt

    @property
    def folder(self) -> str:
        return os.path.dirname(os.path.abspath(self.doc.file))

    def broken_line(self, section: str, index: int) -> int | None:
        return self.broken.get((section, index))


def parse(doc: Document) -> ParsedSpec:
    if doc.data is None:
        raise doc.error((), "the file is empty (or holds only comments), so it defines no project",
                        "start the file with `name: my_project` and a `tasks:` list, or delete the file")
    if not isinstance(doc.data, dict):
        raise doc.error((), "an AME file must be a mapping with `name:` and `tasks:`",
                        "start the file with `name: my_project` and a `tasks:` list")
    check_generation(doc, doc.data)
    cleaned, warnings, stripped = strip_legacy(doc, doc.data)
    project, errors, broken, blocking = _validate(doc, cleaned, warnings)
    for diagnostic, item in _duplicate_names(doc, project):
        errors.append(diagnostic)
        broken.setdefault(item, diagnostic.line)
    project = _without_nul_characters(doc, project, errors, broken, blocking)
    for i, model in enumerate(project.models or []):
        if ("models", i) in broken:
            continue
        if model.deployment is not None:
            warnings.append(warning(doc, ("models", i, "deployment"),
                                    f"model '{model.name}': `deployment` is not supported by taskspec and is ignored",
                                    "serve the model with your own deployment; its training still runs"))
        if model.modelType is not None:
            warnings.append(warning(doc, ("models", i, "modelType"),
                                    f"model '{model.name}': `modelType` is not used by taskspec and is ignored"))
    if not errors and not blocking:
        warnings.extend(_defines_nothing(doc, project))
    return ParsedSpec(doc, project, warnings, stripped, errors, broken,
                      stops_the_file(SpecError(blocking)).diagnostics if blocking else [])


NAME_KEYS = ("name", "project")
STAND_IN_NAME = "x"
"""The project name a file with a bad name is checked under (its DAGs are never built)."""


def _validate(doc: Document, data: dict[str, Any], warnings: list[Diagnostic]
              ) -> tuple[Project, list[Diagnostic], dict[Item, int], list[Diagnostic]]:
    """The project with each failing item replaced by a placeholder, the items' errors, which items failed,
    and the errors of the project name (with them, the project is checked under a stand-in name)."""
    try:
        return Project.model_validate(data), [], {}, []
    except ValidationError as exc:
        failures = exc.errors(include_url=False)
    # Every failure decides what is dropped; a missing key that an unknown key misspells is not shown.
    shown = [id(err) for err in without_misspelled(failures, doc.data, Project)]
    hidden: list[Diagnostic] = []
    fatal: list[Diagnostic] = []
    blocking: list[Diagnostic] = []
    recoverable: list[Diagnostic] = []
    broken: dict[Item, int] = {}
    dropped_keys: set[str] = set()
    for err in failures:
        loc = clean_loc(tuple(err["loc"]), doc.data)
        diagnostic = model_diagnostic(doc, Project, err)
        if id(err) not in shown:
            hidden.append(diagnostic)
        if loc[:1] in ((), ("name",), ("project",)) and err["type"] != "extra_forbidden":
            blocking.append(diagnostic)  # the name (missing, not text, badly formed, or given twice)
        elif len(loc) >= 2 and loc[0] in SECTIONS and isinstance(loc[1], int):
            broken.setdefault((loc[0], loc[1]), diagnostic.line)
        elif loc and (loc[0] in SECTIONS or (len(loc) == 1 and err["type"] == "extra_forbidden")):
            dropped_keys.add(str(loc[0]))
        else:
            fatal.append(diagnostic)
            continue
        recoverable.append(diagnostic)
    if fatal:
        raise SpecError(most_specific(_shown(fatal + blocking + recoverable, hidden)) + warnings)
    kept = {key: _without(key, value, broken) for key, value in data.items() if key not in dropped_keys}
    if blocking:
        kept = {key: value for key, value in kept.items() if key not in NAME_KEYS} | {"name": STAND_IN_NAME}
    # Items are validated independently, so without the failing ones the rest validates.
    project = Project.model_validate(kept)
    if blocking:  # messages name the project as written, when it is text
        written = next((data[k] for k in NAME_KEYS if isinstance(data.get(k), str)), "")
        project = project.model_copy(update={"name": written})
    update = {}
    for section in SECTIONS:
        original = data.get(section) if section in kept else None
        if isinstance(original, list) and any(s == section for s, _ in broken):
            valid = iter(getattr(project, section) or [])
            update[section] = [_placeholder(section, raw) if (section, i) in broken else next(valid)
                               for i, raw in enumerate(original)]
    return (project.model_copy(update=update), most_specific(_shown(recoverable, hidden)), broken,
            most_specific(_shown(blocking, hidden) or blocking))


NUL_HINT = ("remove it (in double quotes YAML writes it `\\0` or `\\x00`): a NUL character cannot be passed to a "
            "command, an environment variable, a file name or a Kubernetes object")


def _without_nul_characters(doc: Document, project: Project, errors: list[Diagnostic], broken: dict[Item, int],
                            blocking: list[Diagnostic]) -> Project:
    """An error for each key or text holding a NUL character, which would compile and only fail when the
    task runs (bash, ``execve`` and the Kubernetes API all refuse it); the item that holds one is not built."""
    replaced: set[Item] = set()
    for path, key in _nul_places(doc.data, ()):
        m = doc.mark(path, key=key)
        what = _nul_place_name(path, key)
        diagnostic = Diagnostic(doc.file, m.line, m.column, f"{what} holds a NUL character", NUL_HINT)
        item = (str(path[0]), path[1]) if len(path) >= 2 and path[0] in SECTIONS and isinstance(path[1], int) else None
        if item is None:
            blocking.append(diagnostic)
            continue
        errors.append(diagnostic)
        if item not in broken:
            broken[item] = diagnostic.line
            replaced.add(item)
    update: dict[str, Any] = {}
    for section in {s for s, _ in replaced}:
        items = list(getattr(project, section) or [])
        for s, i in replaced:
            if s == section and i < len(items):
                items[i] = _placeholder(section, doc.data[section][i])
        update[section] = items
    return project.model_copy(update=update) if update else project


def _nul_place_name(path: tuple[Any, ...], key: bool) -> str:
    last = path[-1] if path else None
    if not isinstance(last, str):
        return "this entry"
    return f"the key '{last}'" if key else f"the value of `{last}`"


def _nul_places(value: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], bool]]:
    """The paths of every text (``False``) and key (``True``) below ``value`` that holds a NUL character."""
    if isinstance(value, str):
        return [(path, False)] if "\0" in value else []
    found: list[tuple[tuple[Any, ...], bool]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and "\0" in k:
                found.append((path + (k,), True))
            found.extend(_nul_places(v, path + (k,)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(_nul_places(v, path + (i,)))
    return found


def _shown(diagnostics: list[Diagnostic], hidden: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d not in hidden]


def _defines_nothing(doc: Document, project: Project) -> list[Diagnostic]:
    """A warning for a file that holds no task, template, model or data set: it builds no DAG and shares
    nothing. A file of templates only is not warned about: other projects use them (``fromTemplate: p.name``)."""
    if any(getattr(project, section) for section in SECTIONS):
        return []
    written = "tasks" in doc.data
    where: tuple[str, ...] = ("tasks",) if written else next(((k,) for k in NAME_KEYS if k in doc.data), ())
    what = "its `tasks:` list is empty" if written else "it has no `tasks:` list"
    return [warning(doc, where, f"project '{project.name}' defines no task, so no DAG is built: {what}",
                    "add the tasks below `tasks:`, each starting with `- name: my_task`; a file that shares "
                    "templates with other projects lists them below `templates:`")]


def _without(key: str, value: Any, broken: dict[Item, int]) -> Any:
    if key not in SECTIONS or not isinstance(value, list):
        return value
    return [item for i, item in enumerate(value) if (key, i) not in broken]


def _placeholder(section: str, raw: Any) -> Task | Model | DataSet:
    """An item that failed validation: only its name, so references to it can say that it has errors."""
    name = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("name"), str) else None
    if section in ("tasks", "templates"):
        return Task.model_construct(name=name)
    if section == "models":
        return Model.model_construct(name=name or "", training=Training.model_construct(task=Task.model_construct()))
    return DataSet.model_construct(name=name or "", path="", task=Task.model_construct())


def _duplicate_names(doc: Document, project: Project) -> list[tuple[Diagnostic, Item]]:
    """A second item of one name in a section is an error (it would be the same DAG or the same reference)."""
    found: list[tuple[Diagnostic, Item]] = []
    for key in SECTIONS:
        seen: dict[str, int] = {}
        for i, item in enumerate(getattr(project, key) or []):
            name = item.name
            if not name:
                continue
            if name in seen:
                m = doc.mark((key, i, "name"))
                found.append((Diagnostic(doc.file, m.line, m.column,
                                         f"{key[:-1]} name '{name}' is used twice (first at line "
                                         f"{doc.mark((key, seen[name], 'name')).line})", "rename one of them"),
                              (key, i)))
            else:
                seen[name] = i
    return found


def read(path: str, text: str | None = None) -> ParsedSpec:
    """One AME file; SpecError when nothing of it can be used (each error then says so)."""
    if text is None:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    try:
        return parse(load(path, text))
    except SpecError as exc:
        raise stops_the_file(exc) from None
