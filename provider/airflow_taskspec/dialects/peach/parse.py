"""One PEACH file -> ``ParsedFile``: its codops, its tasks in file order, its requirement lists, and every
problem found in it alone, each at its file:line:column.

Only what leaves nothing usable raises (invalid YAML, no mapping); an invalid task is a diagnostic and the
file's other tasks still build. Without a valid ``codops`` the file belongs to no organisation (``blocking``
holds why; it is a group of its own and builds nothing), but the rest of it is still checked, its notebooks
too, so one pass reports everything wrong in the file. What needs the other files of the organisation (task
name clashes, environments, ``py_env`` names) is checked in ``normalise``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml as pyyaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from pydantic import BaseModel, ValidationError

from ...errors import Diagnostic, SpecError, closest
from .. import yaml
from ..diagnostics import (
    model_diagnostic,
    most_specific,
    name_problem,
    stops_the_file,
    without_misspelled,
)
from . import models

Where = tuple[int, int]  # line, column (1-based)

UNBUILT = "until then, no task that runs in this environment is built"
"""The end of every hint about an environment that cannot be built as written."""


@dataclass(frozen=True)
class Dependency:
    """One requirement as written; or, with no name, a place whose requirements could not be read (reported
    there), which keeps the environment from being built without them."""

    text: str
    name: str  # canonical package name; "" when unreadable
    specifier: str  # "" when unpinned
    file: str
    where: Where

    @property
    def place(self) -> str:
        return f"{self.file}:{self.where[0]}:{self.where[1]}"

    @property
    def readable(self) -> bool:
        return bool(self.name)


@dataclass(frozen=True)
class Entry:
    """A task or an endpoint, with where its parts were written."""

    name: str
    spec: models.Task | models.Endpoint
    file: str
    where: Where  # the name's key
    marks: dict[str, Where]  # "notebook", "method", "args", "py_env", "args.<key>" -> value/key position
    dependencies: tuple[Dependency, ...] = ()

    @property
    def args(self) -> dict[str, Any]:
        return self.spec.args if isinstance(self.spec, models.Task) else {}


@dataclass(frozen=True)
class Environment:
    name: str
    dependencies: tuple[Dependency, ...]
    file: str
    where: Where


@dataclass(frozen=True)
class ParsedFile:
    file: str
    project: str  # the project folder: notebooks are relative to it
    text: str
    codops: str
    codops_where: Where  # the `codops:` key: where the organisation's DAG is said to be defined
    tasks: tuple[Entry, ...]
    endpoints: tuple[Entry, ...]
    dependencies: tuple[Dependency, ...]  # legacy: root list and `tasks.dependencies`
    environments: tuple[Environment, ...] | None  # current generation; None: legacy file
    diagnostics: tuple[Diagnostic, ...]
    blocking: tuple[Diagnostic, ...] = ()  # why the file belongs to no organisation (a missing or bad codops)


def read(path: str, text: str, project: str) -> ParsedFile:
    doc = yaml.load(path, text)
    if doc.data is None:
        raise doc.error((), "the file is empty (or holds only comments); PEACH requires `codops:` and "
                        "`tasks:`", "start the file with `codops: <your organisation code>`, then `tasks:`, or "
                        "delete the file")
    if not isinstance(doc.data, dict):
        raise doc.error((), "a PEACH task file must be a mapping with `codops:` and `tasks:`",
                        "start the file with `codops: <your organisation code>`, then `tasks:`")
    diags: list[Diagnostic] = []
    root, blocking = _root(doc, diags)
    native = _native(text)
    generation_current = root.py_environments is not None
    raw_tasks = doc.data.get("tasks")
    if raw_tasks is not None and not isinstance(raw_tasks, dict):
        diags.append(_diag(doc, ("tasks",), "'tasks' must be a mapping of task name -> task",
                           "write each task's name on its own line below `tasks:`, with its keys indented below"))
        raw_tasks = {}
    elif not any(name != models.RESERVED_TASK_KEY for name in raw_tasks or {}) and not _misspells_tasks(doc):
        diags.append(_no_task(doc, raw_tasks))
    raw_tasks = raw_tasks or {}
    root_list = doc.data.get("dependencies")  # not a list: the file's model check says so already
    dependencies = (list(_dependencies(doc, ("dependencies",), root_list, diags)) if isinstance(root_list, list)
                    else [] if root_list is None else [_unreadable(doc, ("dependencies",))])
    if models.RESERVED_TASK_KEY in raw_tasks:
        dependencies += _dependencies(doc, ("tasks", models.RESERVED_TASK_KEY), raw_tasks[models.RESERVED_TASK_KEY],
                                      diags)
    if generation_current:
        for legacy in [("dependencies",), ("tasks", models.RESERVED_TASK_KEY)]:
            if _has(doc.data, legacy):
                diags.append(_legacy_key_error(doc, legacy))
        dependencies = []
    tasks = [_entry(doc, "tasks", name, value, models.Task, native, generation_current, diags)
             for name, value in raw_tasks.items() if name != models.RESERVED_TASK_KEY]
    raw_endpoints = doc.data.get("endpoints") or {}
    endpoints = [_entry(doc, "endpoints", name, value, models.Endpoint, native, generation_current, diags)
                 for name, value in raw_endpoints.items()] if isinstance(raw_endpoints, dict) else []
    m = doc.mark(("codops",), key=True)
    return ParsedFile(
        file=path, project=project, text=text, codops=root.codops, codops_where=(m.line, m.column),
        tasks=tuple(t for t in tasks if t is not None), endpoints=tuple(e for e in endpoints if e is not None),
        dependencies=tuple(dependencies), environments=_environments(doc, diags) if generation_current else None,
        diagnostics=tuple(diags),
        blocking=tuple(stops_the_file(SpecError(blocking)).diagnostics) if blocking else (),
    )




def _misspells_tasks(doc: yaml.Document) -> bool:
    """A root key such as `task:` is reported as unknown with "did you mean 'tasks'?", which says it all."""
    return "tasks" not in doc.data and any(closest(str(key), ("tasks",)) for key in doc.data
                                           if key != "codops")


def _no_task(doc: yaml.Document, raw_tasks: dict[str, Any] | None) -> Diagnostic:
    """PEACH requires a `tasks:` key holding the tasks; a file without one registers nothing."""
    hint = ("write each task's name on its own line below `tasks:`, with its `notebook:` and `method:` "
            "indented below it")
    if "tasks" not in doc.data:
        return _diag(doc, ("codops",) if "codops" in doc.data else (),
                     "the file has no `tasks:`; PEACH requires a `tasks:` key in every task file",
                     f"add `tasks:` below `codops:`, then {hint}", key=True)
    what = "only the reserved `dependencies` list" if raw_tasks else "nothing"
    return _diag(doc, ("tasks",), f"`tasks:` holds {what}, so the file defines no task", hint, key=True)


def _root(doc: yaml.Document, diags: list[Diagnostic]) -> tuple[models.PeachFile, list[Diagnostic]]:
    """The file's own keys (tasks and endpoints are validated one by one, so one bad task drops only itself),
    and the errors that keep the file out of every organisation (a missing or invalid ``codops``)."""
    data = {k: v for k, v in doc.data.items() if k not in ("tasks", "endpoints")}
    blocking: list[Diagnostic] = []
    if "codops" not in data:
        blocking.append(_diag(doc, (), "missing required key 'codops'", "add `codops: <organisation code>` "
                              "(e.g. `codops: debr`) at the top of the file"))
    else:
        try:
            models.PeachFile.model_validate({"codops": data["codops"]})
        except ValidationError as exc:
            blocking.extend(_model_errors(doc, models.PeachFile, exc, ()))
    written = data.get("codops")
    codops = written if isinstance(written, str) else ""  # as written, for messages; valid without blocking
    if blocking:  # the other keys are still checked, as if the codops were valid
        data = {**data, "codops": "x"}
    try:
        return models.PeachFile.model_validate(data).model_copy(update={"codops": codops}), blocking
    except ValidationError as exc:
        diags.extend(_model_errors(doc, models.PeachFile, exc, ()))
    # Keep the generation the file is written in, so its tasks are checked by the right rules.
    return models.PeachFile(codops="x", py_environments={} if "py_environments" in data else None).model_copy(
        update={"codops": codops}), blocking


def _model_errors(doc: yaml.Document, root: type[BaseModel], exc: ValidationError, prefix: tuple[Any, ...]
                  ) -> list[Diagnostic]:
    errors = [{**err, "loc": prefix + tuple(err["loc"])} for err in exc.errors(include_url=False)]
    errors = without_misspelled(errors, doc.data, root)
    return most_specific([model_diagnostic(doc, root, err) for err in errors])


def _entry(doc: yaml.Document, section: str, name: str, value: Any, model: type[models.Task | models.Endpoint],
           native: Any, current: bool, diags: list[Diagnostic]) -> Entry | None:
    base = (section, name)
    kind = "task" if section == "tasks" else "endpoint"
    if not models.valid_name(name):
        diags.append(_diag(doc, base, f"{kind} name '{name}' may only contain ASCII letters (a-z, A-Z), "
                           f"digits, '_' and '-': {name_problem(name, '_-')}",
                           f"rename it, e.g. `my_{kind}:`", key=True))
        return None
    if not isinstance(value, dict):
        diags.append(_diag(doc, base, f"{kind} '{name}' must be a mapping with `notebook:` and `method:`",
                           "write its keys indented below the name"))
        return None
    try:
        spec = model.model_validate(value)
    except ValidationError as exc:
        diags.extend(_model_errors(doc, models.PeachFile, exc, base))
        return None
    if isinstance(spec, models.Task):
        args = _typed(spec.args, _native_at(native, base + ("args",)))
        problems = _args_errors(doc, base, args)
        if problems:
            diags.extend(problems)
            return None
        spec = spec.model_copy(update={"args": args if isinstance(args, dict) else {}})
    if current and spec.dependencies is not None:
        diags.append(_legacy_key_error(doc, base + ("dependencies",)))
    if not current and spec.py_env is not None:
        diags.append(_diag(doc, base + ("py_env",), f"{kind} '{name}' names py_env '{spec.py_env}', but this file "
                           "defines no `py_environments`",
                           "add `py_environments:` at the top level, or use `dependencies:` lists", key=True))
    deps = () if current else tuple(_dependencies(doc, base + ("dependencies",), value.get("dependencies"), diags))
    marks = {key: _where(doc, base + (key,)) for key in ("notebook", "method", "py_env")}
    marks["args"] = _where(doc, base + ("args",), key=True)
    for key in (value.get("args") or {}) if isinstance(value.get("args"), dict) else {}:
        marks[f"args.{key}"] = _where(doc, base + ("args", key), key=True)
    return Entry(name, spec, doc.file, _where(doc, base, key=True), marks, deps)


def _environments(doc: yaml.Document, diags: list[Diagnostic]) -> tuple[Environment, ...]:
    """The file's ``py_environments``, each read on its own: a bad key elsewhere in the file loses none of them,
    and one that cannot be read (the file's model check said why) is kept as unreadable, so no task runs in
    an environment that lacks what was written for it."""
    raw = doc.data.get("py_environments")
    if not isinstance(raw, dict):
        where = _where(doc, ("py_environments",), key=True)
        return (Environment(models.BASE_ENVIRONMENT, (_unreadable(doc, ("py_environments",)),), doc.file, where),)
    envs = []
    for name, value in raw.items():
        path = ("py_environments", name)
        if not models.valid_name(name):
            diags.append(_diag(doc, path, f"environment name '{name}' may only contain ASCII letters "
                               f"(a-z, A-Z), digits, '_' and '-': {name_problem(name, '_-')}", "rename it",
                               key=True))
            continue
        try:
            env = models.PyEnvironment.model_validate(value)
        except ValidationError:
            deps: tuple[Dependency, ...] = (_unreadable(doc, path),)
        else:
            deps = tuple(_dependencies(doc, path + ("dependencies",), env.dependencies, diags))
        envs.append(Environment(name, deps, doc.file, _where(doc, path, key=True)))
    return tuple(envs)


def _unreadable(doc: yaml.Document, path: tuple[Any, ...]) -> Dependency:
    return Dependency("", "", "", doc.file, _where(doc, path))


def _dependencies(doc: yaml.Document, path: tuple[Any, ...], value: Any, diags: list[Diagnostic]) -> list[Dependency]:
    if value is None:
        return []
    if not isinstance(value, list):
        diags.append(_diag(doc, path, f"'{path[-1]}' must be a list of requirements",
                           f"write each requirement on its own line below `{path[-1]}:`, e.g. `- pyarrow==16.1.0`; "
                           f"{UNBUILT}"))
        return [_unreadable(doc, path)]
    found = []
    for i, text in enumerate(value):
        if not isinstance(text, str):
            diags.append(_diag(doc, path + (i,), "a requirement must be text such as `pandas==2.2.2`", UNBUILT))
            found.append(_unreadable(doc, path + (i,)))
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0]  # packaging adds the text and a caret line below
            diags.append(_diag(doc, path + (i,), f"'{text}' is not a valid requirement: {reason}",
                               f"write it as pip does, e.g. `orjson==3.3.1` or `pyarrow`; {UNBUILT}"))
            found.append(_unreadable(doc, path + (i,)))
            continue
        found.append(Dependency(text, canonicalize_name(req.name), str(req.specifier), doc.file,
                                _where(doc, path + (i,))))
    return found


def _legacy_key_error(doc: yaml.Document, path: tuple[Any, ...]) -> Diagnostic:
    return _diag(doc, path, "`dependencies` cannot be used together with `py_environments`",
                 "move these requirements into an environment under `py_environments:` (`base` is used by every "
                 "task) and name it with `py_env:`", key=True)


def _has(data: Any, path: tuple[Any, ...]) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


class _Unusable:
    """An ``args`` value that cannot travel as JSON (Airflow params, ``--conf``, the call's arguments): what it
    is, for the error at its place."""

    def __init__(self, what: str) -> None:
        self.what = what


class _ArgsLoader(getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)):  # type: ignore[misc]
    """The file with YAML's own types (numbers, booleans, null, dates), as PEACH reads ``args``, except:
    mapping keys stay the text written (YAML 1.1 reads the key `on:` as True, and `1:` and `yes:` would then be
    one key), and a value JSON cannot hold (another tag, binary data, a set, an impossible date) becomes an
    ``_Unusable`` instead of a Python object or an error that would lose every argument of the file."""

    def construct_mapping(self, node: pyyaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Our own loader read the file first: every key is a scalar, none is repeated, there is no `<<`.
        return {key.value: self.construct_object(value, deep=deep) for key, value in node.value}

    def construct_timestamp(self, node: pyyaml.ScalarNode) -> Any:
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:
            return _Unusable(f"'{node.value}', which YAML reads as a date, but no such date exists")


def _unusable(what: str) -> Any:
    return lambda loader, node: _Unusable(what.format(tag=node.tag.replace("tag:yaml.org,2002:", "!!", 1)))


for _tag, _what in [("binary", "binary data (`!!binary`)"), ("set", "a set (`!!set`)"),
                    ("omap", "an ordered map (`!!omap`)"), ("pairs", "a list of pairs (`!!pairs`)")]:
    _ArgsLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _unusable(_what))
_ArgsLoader.add_constructor(None, _unusable("a value tagged `{tag}`"))
_ArgsLoader.add_constructor("tag:yaml.org,2002:timestamp", _ArgsLoader.construct_timestamp)


def _native(text: str) -> Any:
    """The file as ``_ArgsLoader`` reads it, for ``args``: they reach the method typed."""
    try:
        return pyyaml.load(text, Loader=_ArgsLoader)
    except pyyaml.YAMLError:  # our own loader accepted the file; this is only a safety net
        return None


def _native_at(native: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if not isinstance(native, dict):
            return None
        native = native.get(part)
    return native


def _typed(text: Any, native: Any) -> Any:
    """``args`` with YAML's types; the text values where the typed file could not be read."""
    if native is None and isinstance(text, dict):
        return text
    return _json_ready(native)


def _json_ready(value: Any) -> Any:
    """Dates become ISO text, so every argument travels as JSON."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def _args_problems(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Where ``args`` holds what JSON cannot, and what it is."""
    if isinstance(value, _Unusable):
        yield path, value.what
    elif isinstance(value, float) and not math.isfinite(value):
        written = "-.inf" if value < 0 else ".inf" if value > 0 else ".nan"
        yield path, f"{written}, which JSON has no number for"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _args_problems(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _args_problems(item, path + (i,))


def _args_errors(doc: yaml.Document, base: tuple[Any, ...], args: Any) -> list[Diagnostic]:
    found = []
    for path, what in _args_problems(args):
        name = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        found.append(_diag(doc, base + ("args",) + path, f"argument '{name}' is {what}: an argument must be "
                           "text, a number, true/false, null, a list or a mapping",
                           "arguments travel as JSON (the trigger form, `--conf`, XCom): quote the value to pass "
                           "it as text, and convert it in the method"))
    return found


def _where(doc: yaml.Document, path: tuple[Any, ...], *, key: bool = False) -> Where:
    m = doc.mark(path, key=key)
    return m.line, m.column


def _diag(doc: yaml.Document, path: tuple[Any, ...], message: str, hint: str, *, key: bool = False) -> Diagnostic:
    m = doc.mark(path, key=key)
    return Diagnostic(doc.file, m.line, m.column, message, hint)
