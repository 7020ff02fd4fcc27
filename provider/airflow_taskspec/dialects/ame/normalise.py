"""One AME project -> Workflows: each named task, each model's training and each data set's producing task
becomes one DAG, built independently, so an error in one does not drop the others.

Cross-project templates and data sets are found through ``lookup`` (the other projects of the DAG folder).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ... import ir
from ...errors import Diagnostic, SpecError, dedupe, did_you_mean, one_of
from .. import env, resources, schedules
from ..contract import Normalised
from ..diagnostics import warning
from .legacy import COMMAND_KEYS, FALLBACK_TAG, suggested_tag
from .models import (
    DEFAULT_MLFLOW_COMMAND,
    DOCUMENTED_TAGS,
    EXECUTOR_PROJECT_FILES,
    EXECUTOR_TAGS,
    DataSet,
    DataSetRef,
    Model,
    Task,
    TaskInput,
    Triggers,
)
from .parse import ParsedSpec
from .templates import merge, settings_of, template_key

Lookup = Callable[[str], "ParsedSpec | None"]
"""Finds a project of the DAG folder by its name (for cross-project templates and data sets)."""

SECRET_STORES = {"ame": ir.SecretStore.PLATFORM, "vault": ir.SecretStore.VAULT}
"""AME's own secret store is the deployment's (`!ame`); `!vault` is HashiCorp Vault."""


def asset_uri(project: str, data_set: str) -> str:
    """The Airflow Asset an AME data set is."""
    return f"ame://{project}/{data_set}"



@dataclass(frozen=True)
class _Place:
    """A project and a position inside its file: where a task, template or reference was written."""

    spec: ParsedSpec
    path: tuple[Any, ...]

    def at(self, *more: Any) -> _Place:
        return _Place(self.spec, self.path + more)

    def error(self, message: str, hint: str = "", *, key: bool = False) -> SpecError:
        return self.spec.doc.error(self.path, message, hint, key=key)

    def origin(self) -> ir.Origin:
        m = self.spec.doc.mark(self.path)
        return ir.Origin(self.spec.doc.file, m.line, m.column)


class _Normaliser:
    """Turns one validated project into Workflows."""

    def __init__(self, spec: ParsedSpec, lookup: Lookup, project_names: Iterable[str]) -> None:
        self.spec = spec
        self.lookup = lookup
        self._project_names = project_names
        self.project = spec.project
        self.checked_files: dict[str, bool] = {}
        self.warnings: list[Diagnostic] = []

    @property
    def project_names(self) -> list[str]:
        # Only error hints list them; listing them makes the result depend on every project of the folder.
        return sorted(self._project_names)

    # -- workflows ---------------------------------------------------------------------------------------------
    def workflows(self, only_dag_id: str | None = None) -> tuple[list[ir.Workflow], list[Diagnostic]]:
        """Every DAG of the project that compiles, and the errors of those that do not."""
        broken = self.spec.broken
        builders: list[tuple[str, Callable[[], ir.Workflow]]] = []
        for i, task in enumerate(self.project.tasks or []):
            if ("tasks", i) in broken:
                continue
            if task.name:
                builders.append((self.dag_id(task.name), partial(self.task_workflow, i, task)))
            else:
                self.warnings.append(warning(self.spec.doc, ("tasks", i),
                                             "this task has no `name`, so it gets no DAG", "add `name:`"))
        for i, model in enumerate(self.project.models or []):
            if ("models", i) in broken:
                continue
            builders.append((self.dag_id(model.name, "training"), partial(self.model_workflow, i, model)))
        errors: list[Diagnostic] = []
        for i, data_set in enumerate(self.project.dataSets or []):
            if ("dataSets", i) in broken:
                continue
            if data_set.task.taskRef is None:
                builders.append((self.producer_dag_id(data_set), partial(self.data_set_workflow, i, data_set)))
            elif only_dag_id is None:
                # Its producer is another task's DAG: that task must exist, or nothing ever writes the data set.
                try:
                    self.find_task(str(data_set.task.ref_name), _Place(self.spec, ("dataSets", i, "task")))
                except SpecError as exc:
                    errors.extend(exc.diagnostics)
        out: list[ir.Workflow] = []
        for dag_id, build in builders:
            if only_dag_id is not None and dag_id != only_dag_id:
                continue
            try:
                out.append(build())
            except SpecError as exc:
                errors.extend(exc.diagnostics)
        return self._with_produces(out), dedupe(errors)

    def dag_id(self, *parts: str) -> str:
        return ".".join((self.project.name,) + parts)

    def producer_dag_id(self, data_set: DataSet) -> str:
        task = data_set.task
        return self.dag_id(task.ref_name or task.name or data_set.name)

    def _workflow(self, dag_id: str, place: _Place, title: str, description: str, graph: ir.Step,
                  schedule: ir.Schedule, extra_warnings: tuple[str, ...] = ()) -> ir.Workflow:
        file_warnings = tuple(d.format() for d in self.spec.warnings) + extra_warnings
        return ir.Workflow(
            dag_id=dag_id, title=title, origin=place.origin(), source_text=self.spec.doc.text,
            graph=_unique_names(graph), description=description, tags=("ame", self.project.name),
            schedule=schedule, warnings=file_warnings, params=_input_params(graph, place),
        )

    def task_workflow(self, index: int, task: Task) -> ir.Workflow:
        assert task.name is not None
        place = _Place(self.spec, ("tasks", index))
        resolved = self.expand(task, place, stack=())
        return self._workflow(self.dag_id(task.name), place, f"{self.project.name} / {task.name}",
                              f"AME task `{task.name}` of project `{self.project.name}`",
                              self.step(resolved, place, stack=(task.name,), top=True),
                              _schedule(resolved.triggers))

    def model_workflow(self, index: int, model: Model) -> ir.Workflow:
        place = _Place(self.spec, ("models", index))
        training_place = place.at("training", "task")
        training = self.expand(model.training.task, training_place, stack=())
        graph = self.step(training, training_place, stack=(), top=True)
        validation = model.validationTask or (model.validation.task if model.validation else None)
        if validation is not None:
            vplace = place.at("validationTask") if model.validationTask else place.at("validation", "task")
            checked = self.step(self.expand(validation, vplace, stack=()), vplace, stack=())
            graph = ir.Sequence((graph, checked))
        schedule = (schedules.to_ir(model.training.schedule) if model.training.schedule
                    else _schedule(training.triggers))
        notes = ((f"model '{model.name}': deployment is not supported by taskspec; only training"
                  f"{' and validation' if validation else ''} run here"),) if model.deployment is not None else ()
        return self._workflow(self.dag_id(model.name, "training"), place,
                              f"{self.project.name} / {model.name} training",
                              f"Training of AME model `{model.name}` of project `{self.project.name}`"
                              + (", then its validation task" if validation else ""), graph, schedule, notes)

    def data_set_workflow(self, index: int, data_set: DataSet) -> ir.Workflow:
        place = _Place(self.spec, ("dataSets", index, "task"))
        task = data_set.task if data_set.task.name else data_set.task.model_copy(update={"name": data_set.name})
        resolved = self.expand(task, place, stack=())
        top_level = {t.name for t in self.project.tasks or []}
        if task.name in top_level:
            raise place.at("name").error(
                f"data set '{data_set.name}': its task is named '{task.name}', like a task of this project, "
                "so both would be the same DAG", f"write `taskRef: {task.name}` to use that task, or rename this one")
        return self._workflow(self.producer_dag_id(data_set), place, f"{self.project.name} / {task.name}",
                              f"Produces AME data set `{data_set.name}` of project `{self.project.name}`",
                              self.step(resolved, place, stack=(str(task.name),), top=True),
                              _schedule(resolved.triggers))

    def _with_produces(self, workflows: list[ir.Workflow]) -> list[ir.Workflow]:
        """Mark each data set's producer DAG: the URI it publishes, and the path its last steps write."""
        produced: dict[str, list[DataSet]] = {}
        for i, data_set in enumerate(self.project.dataSets or []):
            if ("dataSets", i) in self.spec.broken:
                continue
            produced.setdefault(self.producer_dag_id(data_set), []).append(data_set)
        out = []
        for wf in workflows:
            data_sets = produced.get(wf.dag_id, [])
            if not data_sets:
                out.append(wf)
                continue
            uses = tuple(ir.DataSetUse(self.project.name, ds.name, ds.path, asset_uri(self.project.name, ds.name),
                                       wf.dag_id, ds.size) for ds in data_sets)
            out.append(replace(wf, produces=tuple(u.uri for u in uses), graph=_mark_outputs(wf.graph, uses)))
        return out

    # -- tasks -------------------------------------------------------------------------------------------------
    def expand(self, task: Task, place: _Place, stack: tuple[str, ...]) -> Task:
        """The task with its templates applied and, for a taskRef, merged over the task it names."""
        task = self.apply_template(task, place, chain=())
        if task.taskRef is None:
            return task
        ref = str(task.ref_name)
        target_index, target = self.find_task(ref, place)
        if ref in stack:
            raise place.at(_ref_key(place)).error(f"task references form a cycle: {' -> '.join(stack + (ref,))}",
                                                  "a task cannot run itself; remove one of the references")
        target_place = _Place(self.spec, ("tasks", target_index))
        inner = self.expand(target, target_place, stack + (ref,))
        merged = merge(inner, settings_of(task))
        return merged.model_copy(update={"name": task.name or target.name, "triggers": task.triggers or inner.triggers})

    def find_task(self, ref: str, place: _Place) -> tuple[int, Task]:
        for i, t in enumerate(self.project.tasks or []):
            if t.name == ref:
                _usable(self.spec, "tasks", i, f"task '{ref}'", place.at(_ref_key(place)))
                return i, t
        names = [t.name for t in self.project.tasks or [] if t.name]
        raise place.at(_ref_key(place)).error(
            f"taskRef '{ref}' names no task of project '{self.project.name}'",
            did_you_mean(ref, names) or f"tasks in this project: {one_of(names) or 'none'}")

    def apply_template(self, task: Task, place: _Place, chain: tuple[str, ...]) -> Task:
        if task.fromTemplate is None:
            return task
        project_name, name = template_key(task.fromTemplate, place.spec.project.name)
        key = f"{project_name}.{name}"
        if key in chain:
            raise place.at("fromTemplate").error(f"templates form a cycle: {' -> '.join(chain + (key,))}",
                                                 "remove `fromTemplate` from one of these templates", key=True)
        owner = self.project_named(project_name, place)
        templates = owner.project.templates or []
        for i, template in enumerate(templates):
            if template.name == name:
                _usable(owner, "templates", i, f"template '{key}'", place.at("fromTemplate"))
                base = self.apply_template(template, _Place(owner, ("templates", i)), chain + (key,))
                merged = merge(base, task)
                return merged.model_copy(update={"name": task.name})
        names = [t.name for t in templates if t.name]
        raise place.at("fromTemplate").error(
            f"fromTemplate: project '{project_name}' has no template '{name}'",
            did_you_mean(name, names) or f"templates in '{project_name}': {one_of(names) or 'none'}")

    def project_named(self, name: str, place: _Place) -> ParsedSpec:
        if name == place.spec.project.name:
            return place.spec
        if name == self.project.name:
            return self.spec
        found = self.lookup(name)
        if found is None:
            raise place.at("fromTemplate" if "fromTemplate" in _raw(place) else ()).error(
                f"no AME project named '{name}' in the DAG folder",
                did_you_mean(name, self.project_names) or f"projects found: {one_of(self.project_names) or 'none'}")
        return found

    def step(self, task: Task, place: _Place, stack: tuple[str, ...], top: bool = False) -> ir.Step:
        """An expanded task as a graph: a pipeline becomes a Sequence (nested lists Parallel), else a TaskRun."""
        if not top and "triggers" in _raw(place):
            self.warnings.append(warning(self.spec.doc, place.path,
                                         f"`triggers` of pipeline step '{task.name}' are ignored",
                                         "schedules belong to the task that is the DAG (the pipeline itself)"))
        if task.pipeline is not None:
            inherited = settings_of(task)
            name = task.name
            out: list[ir.Step] = []
            errors: list[Diagnostic] = []  # every step's, not only the first broken one's
            for i, item in enumerate(task.pipeline):
                group = [(c, place.at("pipeline", i, j)) for j, c in enumerate(item)] if isinstance(item, list) \
                    else [(item, place.at("pipeline", i))]
                built: list[ir.Step] = []
                for child, child_place in group:
                    try:
                        built.append(self.child(child, inherited, child_place, stack, name))
                    except SpecError as exc:
                        errors.extend(exc.diagnostics)
                if isinstance(item, list):
                    out.append(ir.Parallel(tuple(built)))
                elif built:
                    out.append(built[0])
            if errors:
                raise SpecError(errors)
            return ir.Sequence(tuple(out))
        if task.executor is None:
            raise self.no_executor(task, place)
        return self.task_run(task, place)

    def child(self, item: Task, inherited: Task, place: _Place, stack: tuple[str, ...], parent: str | None) -> ir.Step:
        resolved = merge(inherited, self.expand(item, place, stack)) if inherited.model_fields_set else \
            self.expand(item, place, stack)
        if resolved.name is None:
            raise place.error("a pipeline step needs a `name` (or a `taskRef` to a named task)",
                              "add `name: <step>`")
        next_stack = stack + ((item.ref_name,) if item.ref_name else ())
        try:
            return self.step(resolved, place, next_stack)
        except SpecError as exc:
            raise self.in_referred_task(exc, item, place) from None

    def in_referred_task(self, exc: SpecError, item: Task, place: _Place) -> SpecError:
        """A step's errors, those that stem from the task its taskRef names said to: they have no place of
        their own in the step (they are at the step's first line), and the task is reported at its own lines."""
        if item.ref_name is None:
            return exc
        at = self.spec.doc.mark(place.path)
        index = next((i for i, t in enumerate(self.project.tasks or []) if t.name == item.ref_name), None)
        where = f" (line {self.spec.doc.mark(('tasks', index)).line})" if index is not None else ""
        return SpecError([
            replace(d, message=f"pipeline step '{item.ref_name}' cannot be built: {d.message}",
                    hint=f"the error is in task '{item.ref_name}'{where}, which this step refers to; fix it there")
            if (d.file, d.line, d.column) == (self.spec.doc.file, at.line, at.column) else d
            for d in exc.diagnostics])

    def no_executor(self, task: Task, place: _Place) -> SpecError:
        legacy = [k for k in self.spec.legacy_keys.get(place.path, []) if k in ("command", "runcommand", "taskType",
                                                                               "task_type", "templateRef")]
        if legacy:
            tag = self.suggested_tag(place)
            keys = ", ".join(f"`{k}`" for k in legacy)
            others = ", ".join(t for t in DOCUMENTED_TAGS if t != f"!{tag}")
            hint = (f"{keys} {'are' if len(legacy) > 1 else 'is'} from older AME files: the executor replaced them. "
                    f"Write `executor: !{tag}` (or {others}) with `command:` under it")
        else:
            hint = (f"add `executor: !{self.suggested_tag(place, fallback='pip')}` with `pythonVersion:` and "
                    "`command:`, refer to another task with `taskRef: NAME`, or use `fromTemplate` with a template "
                    "that has an executor")
        return place.error(f"task '{task.name}' has no executor", hint)

    def suggested_tag(self, place: _Place, fallback: str = FALLBACK_TAG) -> str:
        """The executor this task most likely wants: what its file says (``legacy.suggested_tag``), else the one
        whose project files are in the folder."""
        from_file = suggested_tag(self.spec.doc.data, _raw(place))
        if from_file:
            return from_file
        for tag in ("mlflow", "poetry", "pipEnv", "pip"):
            needed = EXECUTOR_PROJECT_FILES[EXECUTOR_TAGS[tag]]
            if all(self.has_project_file(name) for name in needed):
                return tag
        return fallback

    def has_project_file(self, name: str) -> bool:
        path = os.path.join(self.spec.folder, name)
        return self.checked_files.setdefault(path, os.path.isfile(path))

    def task_run(self, task: Task, place: _Place) -> ir.TaskRun:
        assert task.executor is not None and task.name is not None
        ex = task.executor
        kind = EXECUTOR_TAGS[ex.kind]
        command = ex.command or (DEFAULT_MLFLOW_COMMAND if kind is ir.ExecutorKind.MLFLOW else None)
        ex_place = place.at("executor") if "executor" in _raw(place) else place
        if not command:
            # The task as written here, or the task a taskRef here names, may hold a task-level `command:`.
            written = [place.path] + [("tasks", i) for i, t in enumerate(self.project.tasks or []) if t.name == task.name]
            misplaced = [path + (k,) for path in written for k in self.spec.legacy_keys.get(path, []) if k in COMMAND_KEYS]
            hint = (f"move `{misplaced[0][-1]}:` (line {self.spec.doc.mark(misplaced[0], key=True).line}) under "
                    f"`executor: !{ex.kind}`" + (" and call it `command:`" if misplaced[0][-1] != "command" else "")
                    if misplaced
                    else "add `command: python main.py` (what to run in the project folder)")
            raise ex_place.error(f"the `!{ex.kind}` executor of task '{task.name}' needs a `command`", hint, key=True)
        errors: list[Diagnostic] = []  # every part's, not only the first broken one's

        def part(build: Callable[[], Any]) -> Any:
            try:
                return build()
            except SpecError as exc:
                errors.extend(exc.diagnostics)
                return None

        name: str = task.name  # narrowed above; a lambda would not keep it
        part(lambda: self.check_project_files(kind, ex.kind, name, ex_place))
        env_vars = part(lambda: self.env(task, place))
        secret_refs = part(lambda: self.secrets(task, place))
        uses = part(lambda: tuple(self.data_set_use(ref, place) for ref in task.dataSets or []))
        inputs = part(lambda: task_inputs(task.inputs or [], place))
        if errors:
            raise SpecError(errors)
        return ir.TaskRun(
            name=task.name,
            origin=place.origin(),
            recipe=ir.Recipe(kind=kind, command=command, python_version=ex.pythonVersion),
            source=ir.ProjectSource(folder=self.spec.folder),
            image=ex.image or task.image,
            env=env_vars,
            secrets=secret_refs,
            resources=resources.to_ir(task.resources or {}),
            artifacts=ir.Artifacts(tuple(task.artifacts.paths), task.artifacts.saveChangedFiles)
            if task.artifacts else ir.Artifacts(),
            data_sets=uses,
            inputs=inputs,
            outputs=tuple(ir.TaskOutput(out.path, out.url) for out in task.outputs or []),
        )

    def check_project_files(self, kind: ir.ExecutorKind, tag: str, task: str, place: _Place) -> None:
        missing = [name for name in EXECUTOR_PROJECT_FILES[kind] if not self.has_project_file(name)]
        if missing:
            raise place.error(f"the `!{tag}` executor of task '{task}' needs {' and '.join(missing)} in the project "
                              f"folder {self.spec.folder}, which has no {missing[0]}",
                              f"add {' and '.join(missing)} next to the ame.yaml, or choose another executor", key=True)

    def env(self, task: Task, place: _Place) -> tuple[ir.EnvVar, ...]:
        seen: list[str] = []
        errors: list[Diagnostic] = []
        for entry in task.environment or []:
            at = self._entry_place(place, ("environment", "env"), "key", entry.key, nth=seen.count(entry.key))
            if env.is_provided(entry.key):
                errors += at.error(f"environment variable '{entry.key}' is set by taskspec itself and cannot be "
                                   f"overridden", f"rename it; {env.PROVIDED_HINT}").diagnostics
            elif entry.key in seen:
                first = self._written_line(place, ("environment", "env"), "key", entry.key, "first at")
                errors += at.error(f"environment variable '{entry.key}' is set twice in task '{task.name}'{first}",
                                   "keep one of the two").diagnostics
            seen.append(entry.key)
        if errors:
            raise SpecError(errors)
        return tuple(ir.EnvVar(e.key, e.val) for e in task.environment or [])

    def secrets(self, task: Task, place: _Place) -> tuple[ir.SecretRef, ...]:
        env_keys = {e.key for e in task.environment or []}
        seen: list[str] = []
        errors: list[Diagnostic] = []
        for s in task.secrets or []:
            problem = ("is set by taskspec itself" if env.is_provided(s.injectAs)
                       else "is also set in `environment`" if s.injectAs in env_keys
                       else "is injected by two secrets"
                       + self._written_line(place, ("secrets",), "injectAs", s.injectAs, "the other at")
                       if s.injectAs in seen else "")
            if problem:
                errors += self._entry_place(place, ("secrets",), "injectAs", s.injectAs,
                                            nth=seen.count(s.injectAs)).error(
                    f"secret injectAs '{s.injectAs}' {problem} in task '{task.name}'",
                    "give the secret another `injectAs` name").diagnostics
            seen.append(s.injectAs)
        if errors:
            raise SpecError(errors)
        return tuple(ir.SecretRef(SECRET_STORES[s.store], s.key, s.injectAs, s.vault) for s in task.secrets or [])

    def _written_line(self, place: _Place, lists: tuple[str, ...], field_name: str, value: str, words: str) -> str:
        """`` (first at line N)`` for the first entry holding ``value`` when this task writes it; else nothing."""
        found = self._entry_place(place, lists, field_name, value)
        return f" ({words} line {found.origin().line})" if found is not place else ""

    def _entry_place(self, place: _Place, lists: tuple[str, ...], field_name: str, value: str,
                     nth: int = 0) -> _Place:
        # The entry as written in this task (the nth one holding ``value``), if it is; otherwise it came from a
        # template or a pipeline.
        raw = _raw(place)
        for key in lists:
            for i, entry in enumerate(raw.get(key) or [] if isinstance(raw.get(key), list) else []):
                body = entry.get("ame") or entry.get("vault") if isinstance(entry, dict) and len(entry) == 1 else entry
                if isinstance(body, dict) and body.get(field_name) == value and (nth := nth - 1) < 0:
                    return place.at(key, i, *((("ame",) if "ame" in entry else ("vault",)) if body is not entry else ()),
                                    field_name)
        return place

    def data_set_use(self, ref: DataSetRef | str, place: _Place) -> ir.DataSetUse:
        if isinstance(ref, DataSetRef):
            project_name, name = ref.ref.project or self.project.name, ref.ref.name
        else:
            project_name, _, name = ref.rpartition(".")
            project_name = project_name or self.project.name
        ref_place = place.at("dataSets") if "dataSets" in _raw(place) else place
        owner = self.spec if project_name == self.project.name else self.lookup(project_name)
        if owner is None:
            raise ref_place.error(f"data set '{project_name}.{name}': no AME project named '{project_name}' in the "
                                  "DAG folder", did_you_mean(project_name, self.project_names)
                                  or f"projects found: {one_of(self.project_names) or 'none'}")
        for i, data_set in enumerate(owner.project.dataSets or []):
            if data_set.name == name:
                _usable(owner, "dataSets", i, f"data set '{project_name}.{name}'", ref_place)
                producer_ref = data_set.task.ref_name
                if producer_ref and producer_ref not in {t.name for t in owner.project.tasks or []}:
                    line = owner.doc.mark(("dataSets", i, "task")).line
                    where = f"line {line}" if owner is self.spec else f"{owner.doc.file}:{line}"
                    raise ref_place.error(f"data set '{project_name}.{name}' has no producer: its `taskRef: "
                                          f"{producer_ref}` names no task ({where})",
                                          f"fix the data set's taskRef in project '{project_name}' first")
                producer = _Normaliser(owner, self.lookup, self._project_names).producer_dag_id(data_set)
                return ir.DataSetUse(project_name, name, data_set.path, asset_uri(project_name, name), producer,
                                     data_set.size)
        names = [d.name for d in owner.project.dataSets or []]
        raise ref_place.error(f"project '{project_name}' has no data set '{name}'",
                              did_you_mean(name, names) or f"data sets in '{project_name}': {one_of(names) or 'none'}")


def _raw(place: _Place) -> dict[str, Any]:
    node: Any = place.spec.doc.data
    for p in place.path:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return {}
    return node if isinstance(node, dict) else {}


def _ref_key(place: _Place) -> str:
    return "taskref" if "taskref" in _raw(place) else "taskRef"


_SCALARS = {"integer": ir.ParamType.INTEGER, "number": ir.ParamType.NUMBER, "string": ir.ParamType.STRING,
            "boolean": ir.ParamType.BOOLEAN}


def task_inputs(items: list[TaskInput], place: _Place) -> tuple[ir.TaskInput, ...]:
    """Every input of a task; SpecError with the errors of all of them, not only the first one's."""
    out: list[ir.TaskInput] = []
    errors: list[Diagnostic] = []
    for n, item in enumerate(items):
        try:
            out.append(task_input(item, place.at("inputs", n)))
        except SpecError as exc:
            errors.extend(exc.diagnostics)
    if errors:
        raise SpecError(errors)
    return tuple(out)


def task_input(item: TaskInput, place: _Place) -> ir.TaskInput:
    if item.type is None:
        return ir.TaskInput(item.name, path=item.path, url=item.url, content=item.content)
    kind = ir.ParamType(item.type)
    items = ir.Param(f"{item.name}[]", _SCALARS[item.items]) if item.items else None
    if kind is ir.ParamType.ENUMERATION and not item.values:
        raise place.error(f"the enumeration input '{item.name}' needs `values:`, the choices",
                          "add `values: [first, second]`")
    if item.values and kind is not ir.ParamType.ENUMERATION:
        raise place.at("values").error(f"`values:` is for `type: enumeration`; input '{item.name}' is {item.type}",
                                       key=True)
    for bound in ("minimum", "maximum"):
        if getattr(item, bound) is not None and kind not in (ir.ParamType.INTEGER, ir.ParamType.NUMBER,
                                                             ir.ParamType.ARRAY):
            raise place.at(bound).error(f"`{bound}:` is for integer, number and array inputs (the number of "
                                        f"elements); input '{item.name}' is {item.type}", key=True)
    if item.pattern is not None:
        if kind is not ir.ParamType.STRING:
            raise place.at("pattern").error(f"`pattern:` is for string inputs; input '{item.name}' is {item.type}",
                                            key=True)
        try:
            re.compile(item.pattern)
        except re.error as exc:
            raise place.at("pattern").error(f"`pattern:` of input '{item.name}' is not a regular expression: {exc}")
    if item.items is not None and kind is not ir.ParamType.ARRAY:
        raise place.at("items").error(f"`items:` is for array inputs; input '{item.name}' is {item.type}", key=True)
    spec = ir.Param(
        name=item.name, type=kind, required=item.required or item.default is None, description=item.description,
        minimum=_number(item.minimum, place.at("minimum"), item.name),
        maximum=_number(item.maximum, place.at("maximum"), item.name),
        allowed=tuple(item.values or ()), pattern=item.pattern, items=items,
    )
    if spec.minimum is not None and spec.maximum is not None and spec.minimum > spec.maximum:
        raise place.at("maximum").error(f"input '{item.name}': `maximum: {item.maximum}` is below `minimum: "
                                        f"{item.minimum}`, so no value is accepted", "swap the two bounds")
    if item.default is not None:
        value = _typed(item.default, spec, place.at("default"))
        _check_default(value, spec, item, place.at("default"))
        spec = replace(spec, default=json.dumps(value), required=item.required)
    return ir.TaskInput(item.name, param=spec)


def _check_default(value: Any, spec: ir.Param, item: TaskInput, place: _Place) -> None:
    """The default must pass the input's own checks: the trigger form offers it, and Airflow refuses a run
    whose value does not fit its schema."""
    measured, what = (len(value), "elements") if isinstance(value, list) else (value, "")
    if isinstance(measured, (int, float)) and not isinstance(measured, bool):
        shown = f"{measured} {what}".strip()
        if spec.minimum is not None and measured < spec.minimum:
            raise place.error(f"the default of input '{item.name}' ({shown}) is below its `minimum: {item.minimum}`")
        if spec.maximum is not None and measured > spec.maximum:
            raise place.error(f"the default of input '{item.name}' ({shown}) is above its `maximum: {item.maximum}`")
    if spec.pattern is not None and isinstance(value, str) and not re.search(spec.pattern, value):
        raise place.error(f"the default {value!r} of input '{item.name}' does not match its `pattern: "
                          f"{spec.pattern}`", "change the default or the pattern (it is searched for in the value, "
                          "as JSON Schema and so Airflow's trigger form do)")


def _number(text: str | None, place: _Place, name: str) -> float | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise place.error(f"input '{name}': {text!r} is not a number") from None
    if not math.isfinite(number):
        raise place.error(f"input '{name}': {text!r} is not a finite number", "JSON, and so Airflow's params, "
                          "cannot carry infinity or NaN")
    return number


def _typed(text: str | list[str], spec: ir.Param, place: _Place) -> Any:
    """A YAML default (kept as text by our loader) as the value of its type."""
    if spec.type is ir.ParamType.ARRAY:
        if not isinstance(text, list):
            raise place.error(f"the default of array input '{spec.name}' must be a list, like [1, 2]")
        item = spec.items or ir.Param(spec.name, ir.ParamType.STRING)
        return [_typed(t, item, place) for t in text]
    if isinstance(text, list):
        raise place.error(f"the default of {spec.type.value} input '{spec.name}' must be one value, not a list")
    try:
        if spec.type is ir.ParamType.INTEGER:
            return int(text)
        if spec.type is ir.ParamType.NUMBER:
            number = float(text)
            if not math.isfinite(number):
                raise place.error(f"the default {text!r} of input '{spec.name}' is not a finite number",
                                  "JSON, and so Airflow's params, cannot carry infinity or NaN")
            return number
    except ValueError:
        what = "a whole number" if spec.type is ir.ParamType.INTEGER else "a number"
        raise place.error(f"the default {text!r} of input '{spec.name}' is not {what}") from None
    if spec.type is ir.ParamType.BOOLEAN:
        if text.lower() not in ("true", "false"):
            raise place.error(f"the default {text!r} of boolean input '{spec.name}' must be true or false")
        return text.lower() == "true"
    if spec.type is ir.ParamType.ENUMERATION and text not in spec.allowed:
        raise place.error(f"the default {text!r} of input '{spec.name}' is not one of its values "
                          f"{list(spec.allowed)}")
    return text


def _input_params(graph: ir.Step, place: _Place) -> tuple[ir.Param, ...]:
    """The workflow's parameters: every typed input of its steps, once (steps may share one by name)."""
    found: dict[str, ir.Param] = {}
    for run in ir.task_runs(graph):
        for item in run.inputs:
            if item.param is None:
                continue
            seen = found.setdefault(item.param.name, item.param)
            if seen != item.param:
                raise place.error(f"two steps declare the input '{item.param.name}' differently; give them "
                                  "different names or the same definition")
    return tuple(found.values())


def _mark_outputs(step: ir.Step, uses: tuple[ir.DataSetUse, ...]) -> ir.Step:
    """The steps that finish a workflow write its data sets: the last step of a sequence, every parallel branch."""
    if isinstance(step, ir.TaskRun):
        return replace(step, publishes=step.publishes + uses)
    if isinstance(step, ir.Sequence):
        return replace(step, steps=step.steps[:-1] + (_mark_outputs(step.steps[-1], uses),)) if step.steps else step
    return ir.Parallel(tuple(_mark_outputs(b, uses) for b in step.branches))


def _unique_names(graph: ir.Step) -> ir.Step:
    """Task runs become TaskGroups whose ids must be unique in a DAG; a second `train` becomes `train_2`."""
    counts: dict[str, int] = {}

    def rename(step: ir.Step) -> ir.Step:
        if isinstance(step, ir.TaskRun):
            counts[step.name] = counts.get(step.name, 0) + 1
            n = counts[step.name]
            return step if n == 1 else replace(step, name=f"{step.name}_{n}")
        if isinstance(step, ir.Sequence):
            return replace(step, steps=tuple(rename(s) for s in step.steps))
        return ir.Parallel(tuple(rename(b) for b in step.branches))

    return rename(graph)


def _schedule(triggers: Triggers | None) -> ir.Schedule:
    return schedules.to_ir(triggers.schedule if triggers else None)


def _usable(owner: ParsedSpec, section: str, index: int, what: str, place: _Place) -> None:
    """A reference to an item whose own errors dropped it cannot be compiled either; say which and where."""
    line = owner.broken_line(section, index)
    if line is not None:
        where = f"line {line}" if owner is place.spec else f"{owner.doc.file}:{line}"
        raise place.error(f"{what}, used here, has errors ({where}), so this cannot be compiled either",
                          f"fix the errors of {what} first")


def normalise(spec: ParsedSpec, lookup: Lookup, project_names: Iterable[str],
              only_dag_id: str | None = None) -> Normalised:
    """The project's workflows (only ``only_dag_id``'s when given) with every error and warning of the file."""
    n = _Normaliser(spec, lookup, project_names)
    workflows, errors = n.workflows(only_dag_id)
    diagnostics = spec.errors + spec.warnings + n.warnings + errors
    return Normalised(workflows, {spec.doc.file: diagnostics}, tuple(n.checked_files))
