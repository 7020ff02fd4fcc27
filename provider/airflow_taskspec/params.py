"""Workflow parameters (``ir.Param``) as Airflow Params: a JSON schema each, so the trigger form shows the
right widget, and ``airflow dags trigger --conf``, the REST API and the form all reject a bad value before
the run is created, with the schema's message. A task receives each value as ``inputs/<name>`` and as the
environment variable ``INPUT_<NAME>``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from . import ir

_JSON_TYPES = {
    ir.ParamType.STRING: "string", ir.ParamType.INTEGER: "integer", ir.ParamType.NUMBER: "number",
    ir.ParamType.BOOLEAN: "boolean", ir.ParamType.FILE: "string", ir.ParamType.ARRAY: "array",
    ir.ParamType.OBJECT: "object",
}


def json_schema(param: ir.Param) -> dict[str, Any]:
    """The JSON schema of one parameter (Airflow's trigger form renders it)."""
    schema: dict[str, Any] = {}
    if param.type is ir.ParamType.ENUMERATION:
        schema["enum"] = list(param.allowed)
    else:
        schema["type"] = _JSON_TYPES[param.type]
    if param.type in (ir.ParamType.INTEGER, ir.ParamType.NUMBER):
        if param.minimum is not None:
            schema["minimum"] = _bound(param.minimum)
        if param.maximum is not None:
            schema["maximum"] = _bound(param.maximum)
    if param.type is ir.ParamType.ARRAY:
        if param.items is not None:
            schema["items"] = json_schema(param.items)
        if param.minimum is not None:
            schema["minItems"] = int(param.minimum)
        if param.maximum is not None:
            schema["maxItems"] = int(param.maximum)
    if param.type is ir.ParamType.STRING and param.pattern:
        schema["pattern"] = param.pattern
    if param.type is ir.ParamType.FILE:
        schema["format"] = "multiline"  # a text area: the file's content
    if param.description:
        schema["description"] = param.description
    schema["title"] = param.name
    return schema


def _bound(value: float) -> int | float:
    """10.0 -> 10, so the messages say "the maximum of 10"."""
    return int(value) if float(value).is_integer() else value


def default_value(param: ir.Param) -> Any:
    return None if param.default is None else json.loads(param.default)


def airflow_params(params: Iterable[ir.Param]) -> dict[str, Any]:
    """name -> airflow.sdk.Param, for ``DAG(params=...)``.

    Airflow's trigger form marks a field required (and refuses to submit it empty) unless its schema's type
    lists ``"null"``. Only a parameter that must be given (``required``, no default) is required there; one
    with a default, or optional, also takes null, which means "not given" (``given_value`` then falls back to
    the default). Every other bound still holds for a value that is given."""
    from airflow.sdk import Param

    built: dict[str, Any] = {}
    for param in params:
        schema = json_schema(param)
        must_give = param.default is None and param.required
        if not must_give and "type" in schema:
            schema = {**schema, "type": [schema["type"], "null"]}
        if param.default is not None:
            built[param.name] = Param(default_value(param), **schema)
        elif must_give:
            built[param.name] = Param(**schema)
        else:
            built[param.name] = Param(None, **schema)
    return built


def given_value(param: ir.Param, values: Mapping[str, Any]) -> Any:
    """The run's value of ``param``: what the run gave, its default when it gave nothing or null."""
    value = values.get(param.name)
    return default_value(param) if value is None else value


def check(params: Iterable[ir.Param], values: Mapping[str, Any]) -> list[str]:
    """Problems with a run's values, one readable line each (empty: all good). The operator calls it before
    it creates any workspace or pod, in case a run was created without Airflow's own validation."""
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    problems = []
    specs = list(params)
    declared = airflow_params(specs)
    for spec in specs:
        name, param = spec.name, declared[spec.name]
        try:
            Param(given_value(spec, values), **param.schema).resolve(suppress_exception=False)
        except ParamValidationError as exc:
            problems.append(f"parameter '{name}': {_first_line(str(exc))}")
    return problems


def env_name(name: str) -> str:
    return "INPUT_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
