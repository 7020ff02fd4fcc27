"""The files of one organisation (or of every organisation, for the metadata loop) -> workflows.

``peach.<codops>``: the organisation's loop; ``peach.metadata``: every organisation's ``loop: metadata``
tasks. Both run their tasks one by one in a stable order (file path, then order in the file), continuously,
one run at a time, and a failed task does not stop the ones after it. Each task's ``args`` become workflow
params named ``<task>.<arg>`` (``<codops>.<task>.<arg>`` in the metadata loop), typed from their YAML values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ... import config, ir
from ...errors import Diagnostic, Severity, did_you_mean, one_of
from ...runtime import notebook
from . import models, notebook_checks
from .names import DAG_PREFIX, METADATA
from .parse import UNBUILT, Dependency, Entry, ParsedFile

METADATA_DAG_ID = DAG_PREFIX + METADATA


@dataclass(frozen=True)
class PlannedTask:
    codops: str
    entry: Entry
    environment: ir.PythonEnvironment


@dataclass
class Plan:
    """An organisation's tasks, checked, with their environments; diagnostics by file."""

    codops: str
    tasks: list[PlannedTask]
    diagnostics: dict[str, list[Diagnostic]]
    notebooks: set[str]

    def report(self, file: str, where: tuple[int, int], message: str, hint: str = "",
               severity: Severity = Severity.ERROR) -> None:
        self.diagnostics.setdefault(file, []).append(Diagnostic(file, where[0], where[1], message, hint, severity))


def plan(codops: str, files: Iterable[ParsedFile]) -> Plan:
    """Merge the organisation's files: tasks in order, name clashes, environments, notebook checks."""
    ordered = sorted((f for f in files if f.codops == codops), key=lambda f: f.file)
    result = Plan(codops, [], {f.file: list(f.diagnostics) for f in ordered}, set())
    environments = _environments(result, ordered)
    seen: dict[str, Entry] = {}
    for f in ordered:
        for entry in f.tasks + f.endpoints:
            kind = "task" if isinstance(entry.spec, models.Task) else "endpoint"
            if kind == "task":
                first = seen.get(entry.name)
                if first is not None:
                    result.report(entry.file, entry.where, f"task '{entry.name}' of codops '{codops}' is defined "
                                  f"twice: here and at {first.file}:{first.where[0]}:{first.where[1]}",
                                  "rename one of the two; task names are unique within an organisation")
                    continue
                seen[entry.name] = entry
            env = environments(entry)
            if env is None or not _notebook_ok(result, f, entry):
                continue
            if kind == "endpoint":
                result.report(entry.file, entry.where, f"endpoint '{entry.name}' is served by PEACH's "
                              "recommendation API, not scheduled: no Airflow task is made for it",
                              "", Severity.WARNING)
                continue
            result.tasks.append(PlannedTask(codops, entry, env))
    return result


def _environments(result: Plan, files: list[ParsedFile]) -> Any:
    """A function entry -> its PythonEnvironment; None when it has none, or one that cannot be built as written
    (an unreadable requirement, two pins of a package, two definitions): why is reported where it was written."""
    current = [f for f in files if f.environments is not None]
    if not current:
        union = _union(result, [d for f in files for d in f.dependencies]
                       + [d for f in files for e in f.tasks + f.endpoints for d in e.dependencies])
        legacy = ir.PythonEnvironment(result.codops, union) if union is not None else None
        return lambda entry: legacy
    for f in files:  # a legacy list in a codops that has moved to py_environments
        for dep in f.dependencies if f.environments is None else ():
            result.report(f.file, dep.where, f"codops '{result.codops}' defines `py_environments` (in "
                          f"{current[0].file}); this legacy `dependencies` list is not used",
                          "move it into an environment under `py_environments:`")
    defined: dict[str, tuple[Dependency, ...]] = {}
    where: dict[str, str] = {}
    twice: set[str] = set()
    for f in current:
        for env in f.environments or ():
            unreadable = not all(d.readable for d in env.dependencies + defined.get(env.name, ()))
            if env.name in defined and not unreadable and ({d.text for d in defined[env.name]}
                                                           != {d.text for d in env.dependencies}):
                result.report(f.file, env.where, f"py_environment '{env.name}' of codops '{result.codops}' is "
                              f"defined differently here and at {where[env.name]}",
                              f"define it once, or give the two lists the same requirements; {UNBUILT}")
                twice.add(env.name)
                continue
            if env.name not in defined or not all(d.readable for d in env.dependencies):
                defined[env.name] = env.dependencies  # an unreadable definition wins: it cannot be built
                where[env.name] = f"{f.file}:{env.where[0]}:{env.where[1]}"
    base = defined.get(models.BASE_ENVIRONMENT, ())
    built: dict[str, ir.PythonEnvironment | None] = {}

    def of(entry: Entry) -> ir.PythonEnvironment | None:
        name = entry.spec.py_env or models.BASE_ENVIRONMENT
        if name not in defined and name != models.BASE_ENVIRONMENT:
            hint = did_you_mean(name, defined) or (f"defined: {one_of(sorted(defined))}" if defined else
                                                   "define it under `py_environments:`")
            result.report(entry.file, entry.marks["py_env"], f"unknown py_env '{name}'", hint)
            return None
        if name not in built:
            deps = base + (defined.get(name, ()) if name != models.BASE_ENVIRONMENT else ())
            union = _union(result, list(deps))
            built[name] = (ir.PythonEnvironment(f"{result.codops}.{name}", union)
                           if union is not None and not {name, models.BASE_ENVIRONMENT} & twice else None)
        return built[name]

    return of


def _union(result: Plan, deps: list[Dependency]) -> tuple[str, ...] | None:
    """The environment's requirements: every one written, as pip and uv take several lines of one package (their
    specifiers must all hold), with a bare name dropped beside a fuller line of its package. Two requirements no
    single version satisfies (two different pins, or a pin another line excludes) are an error naming both.
    None when the environment cannot be built as written (that, or a requirement that could not be read)."""
    by_name: dict[str, list[Dependency]] = {}
    complete = True
    for dep in deps:
        if not dep.readable:  # reported where it was written
            complete = False
            continue
        same = by_name.setdefault(dep.name, [])
        other = next((o for o in same if not _compatible(dep.specifier, o.specifier)), None)
        if other is not None:
            result.report(dep.file, dep.where, f"'{dep.text}' conflicts with '{other.text}' at {other.place}: "
                          f"the tasks of codops '{result.codops}' share one environment, which can hold one "
                          f"version of {dep.name}", f"use the same version in both places; {UNBUILT}")
            complete = False
        elif _bare(dep):
            if not same:
                same.append(dep)
        elif dep.text not in {o.text for o in same}:
            same[:] = [o for o in same if not _bare(o)] + [dep]
    return tuple(sorted(d.text for same in by_name.values() for d in same)) if complete else None


def _bare(dep: Dependency) -> bool:
    """A requirement that is its package's name alone: no version, extras, marker or URL."""
    return canonicalize_name(dep.text.strip()) == dep.name


def _compatible(one: str, other: str) -> bool:
    """Whether some version can satisfy both specifiers, as far as pins tell: two exact pins must be one version,
    and a pin must be allowed by the other specifier. Ranges are left to the installer."""
    if one.startswith("===") and other.startswith("===") and "," not in one + other:
        return one == other  # arbitrary equality compares the text
    pins = [_pinned(one), _pinned(other)]
    if pins[0] is not None and pins[1] is not None:
        return pins[0] == pins[1]
    for pin, spec in ((pins[0], other), (pins[1], one)):
        if pin is not None and spec and not SpecifierSet(spec).contains(pin, prereleases=True):
            return False
    return True


def _pinned(specifier: str) -> Version | None:
    """The version an exact pin (``==1.2.3``, not ``==1.*``) names; None for anything else."""
    parts = list(SpecifierSet(specifier)) if specifier else []
    if len(parts) != 1 or parts[0].operator not in ("==", "===") or parts[0].version.endswith("*"):
        return None
    try:
        return Version(parts[0].version)
    except InvalidVersion:
        return None


def _notebook_ok(result: Plan, f: ParsedFile, entry: Entry) -> bool:
    """The notebook exists and is valid, a code cell defines the method, and ``args`` fit its signature."""
    spec = entry.spec
    path = os.path.join(f.project, spec.notebook)
    result.notebooks.add(path)
    try:
        cells = notebook_checks.read_cells(path, spec.notebook)
    except notebook.NotebookError as exc:
        hint = "the path is relative to the project folder " + f.project
        if os.path.isfile(path):
            hint = f"point `notebook:` at a notebook saved by Jupyter; {hint}"
        result.report(entry.file, entry.marks["notebook"], str(exc), hint)
        return False
    definition = notebook.find_method(cells, spec.method)
    if definition is None:
        result.report(entry.file, entry.marks["method"], notebook.no_method_message(spec.notebook, spec.method, cells),
                      _method_hint(cells, spec.method))
        return False
    if not isinstance(spec, models.Task):
        return True  # an endpoint's arguments come from the API request
    ok = True
    for problem in notebook.argument_problems(definition, entry.args):
        key = next((k for k in entry.args if f"'{k}'" in problem.split(",")[0]), None)
        result.report(entry.file, entry.marks.get(f"args.{key}", entry.marks["args"]), problem,
                      f"the method is defined in {spec.notebook}, cell {definition.cell.number}")
        ok = False
    return ok


def _method_hint(cells: list[notebook.Cell], method: str) -> str:
    misdefined = notebook_checks.misdefinition(cells, method)
    if misdefined is not None:
        return misdefined
    names = [n.name for c in cells for n in notebook.top_level_functions(c)]
    return did_you_mean(method, names) or (f"functions defined: {one_of(names)}" if names else
                                           "define the entry point with `def` at the top level of a code cell")


# -- IR --------------------------------------------------------------------------------------------------------------

def _param_type(value: Any) -> ir.ParamType:
    if isinstance(value, bool):
        return ir.ParamType.BOOLEAN
    if isinstance(value, int):
        return ir.ParamType.INTEGER
    if isinstance(value, float):
        return ir.ParamType.NUMBER
    if isinstance(value, list):
        return ir.ParamType.ARRAY
    if isinstance(value, dict):
        return ir.ParamType.OBJECT
    return ir.ParamType.STRING


def _task_run(task: PlannedTask, prefix: str, timeout: int, project: str) -> tuple[ir.TaskRun, list[ir.Param]]:
    spec = task.entry.spec
    assert isinstance(spec, models.Task)
    params = [ir.Param(name=f"{prefix}{key}", type=_param_type(value),
                       default=None if value is None else json.dumps(value),
                       description=f"`{key}` of {spec.method}() in {spec.notebook} (task {task.entry.name})")
              for key, value in spec.args.items()]
    recipe = ir.NotebookRecipe(
        notebook=spec.notebook, method=spec.method, environment=task.environment,
        full_notebook=spec.full_notebook,
        arguments=tuple(ir.Argument(name=key, param=f"{prefix}{key}") for key in spec.args),
    )
    run = ir.TaskRun(name=prefix.rstrip("."), recipe=recipe, source=ir.ProjectSource(folder=project),
                     origin=ir.Origin(task.entry.file, *task.entry.where), timeout_seconds=timeout)
    return run, params


def _conf_doc(dag_id: str, params: list[ir.Param]) -> str:
    example = {p.name: json.loads(p.default) for p in params[:2] if p.default is not None}
    shape = json.dumps(example) if example else '{"<task>.<arg>": <value>}'
    return (f"Runs its tasks one after the other, again and again; a failed task does not stop the next one.\n\n"
            f"Each task's `args` are params named `<task>.<arg>` (in the trigger form, one section per task). "
            f"Override them for one run with `airflow dags trigger {dag_id} --conf '{shape}'` or the REST API "
            f"(`POST /api/v2/dags/{dag_id}/dagRuns` with `\"conf\"`); keys you leave out keep the YAML values, and a "
            "key that is no param fails the run before any task starts.")


def workflow(dag_id: str, title: str, tasks: list[tuple[PlannedTask, str]], files: list[ParsedFile],
             timeout: int, tags: tuple[str, ...]) -> ir.Workflow | None:
    if not tasks:
        return None
    runs: list[ir.TaskRun] = []
    params: list[ir.Param] = []
    project_of = {f.file: f.project for f in files}
    for task, prefix in tasks:
        run, run_params = _task_run(task, prefix, timeout, project_of[task.entry.file])
        runs.append(run)
        params += run_params
    first = next(f for f in files if f.file == tasks[0][0].entry.file)  # the DAG is where its codops is
    text = "\n".join(f"# {f.file}\n{f.text.rstrip()}\n" for f in files)
    return ir.Workflow(
        dag_id=dag_id, title=title, origin=ir.Origin(first.file, *first.codops_where), source_text=text,
        graph=ir.Sequence(tuple(runs), continue_on_failure=True), description=_conf_doc(dag_id, params),
        tags=tags, owner="peach", schedule=ir.Continuous(), max_active_runs=1, params=tuple(params),
    )


def _timeout(option: str) -> int:
    return config.whole_number(option)


def organisation(codops: str, files: list[ParsedFile]) -> tuple[ir.Workflow | None, Plan]:
    p = plan(codops, files)
    tasks = [(t, f"{t.entry.name}.") for t in p.tasks if t.entry.spec.loop is None]  # type: ignore[union-attr]
    mine = sorted((f for f in files if f.codops == codops), key=lambda f: f.file)
    wf = workflow(DAG_PREFIX + codops, f"PEACH {codops}", tasks, mine, _timeout("peach_task_timeout"),
                  ("peach", codops))
    return wf, p


def metadata_loop(files: list[ParsedFile]) -> tuple[ir.Workflow | None, list[Plan]]:
    plans = [plan(codops, files) for codops in sorted({f.codops for f in files})]
    tasks = [(t, f"{t.codops}.{t.entry.name}.") for p in plans for t in p.tasks
             if t.entry.spec.loop == METADATA]  # type: ignore[union-attr]
    tasks.sort(key=lambda item: (item[0].entry.file, item[0].entry.where))
    used = sorted({t.codops for t, _ in tasks})
    holding = sorted((f for f in files if f.codops in used), key=lambda f: f.file)
    wf = workflow(METADATA_DAG_ID, "PEACH metadata loop", tasks, holding, _timeout("peach_metadata_timeout"),
                  ("peach", METADATA, *used))
    return wf, plans
