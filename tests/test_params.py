"""Typed inputs: the AME `inputs:` extension -> ir.Param -> Airflow Params; each type at its edges, with the
message a user gets from the trigger form, `--conf` or the REST API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import ParamValidationError
from airflow_taskspec import ir, params, resolve

TASK = """\
name: proj
tasks:
  - name: t
    executor: !custom
      command: "true"
    inputs:
{inputs}
"""

INPUTS = """\
      - {name: n, type: integer, default: 3, minimum: 1, maximum: 10}
      - {name: x, type: number, default: 0.5, minimum: 0, maximum: 1}
      - {name: s, type: string, default: cat, pattern: "^[a-z]+$"}
      - {name: b, type: boolean, default: false}
      - {name: e, type: enumeration, values: [fast, accurate], default: fast}
      - {name: f, type: file, default: ""}
      - {name: a, type: array, items: integer, default: [1, 2], maximum: 3}
      - {name: r, type: integer, required: true}
"""


def _compile(tmp_path: Path, inputs: str) -> Any:
    (tmp_path / "proj").mkdir(exist_ok=True)
    (tmp_path / "proj" / "ame.yaml").write_text(TASK.format(inputs=inputs))
    return resolve.compile_paths([str(tmp_path)])


def _params(tmp_path: Path) -> dict[str, Any]:
    compiled = _compile(tmp_path, INPUTS)
    assert not compiled.errors, compiled.errors
    return params.airflow_params(compiled.workflows[0].params)


@pytest.mark.parametrize(("name", "good", "bad", "message"), [
    ("n", [1, 10], [0, 11, 2.5, "3"], ["0 is less than the minimum of 1", "11 is greater than the maximum of 10",
                                        "2.5 is not of type 'integer'", "'3' is not of type 'integer'"]),
    ("x", [0, 1, 0.25], [-0.1, 1.5, "a"], ["-0.1 is less than the minimum of 0", "1.5 is greater than the maximum",
                                         "'a' is not of type 'number'"]),
    ("s", ["abc"], ["Abc", 3], ["'Abc' does not match '^[a-z]+$'", "3 is not of type 'string'"]),
    ("b", [True, False], ["yes", 1], ["'yes' is not of type 'boolean'", "1 is not of type 'boolean'"]),
    ("e", ["fast", "accurate"], ["slow"], ["'slow' is not one of ['fast', 'accurate']"]),
    ("f", ["P1\n1 1\n0\n", ""], [{"a": 1}], ["is not of type 'string'"]),
    ("a", [[], [1, 2, 3]], [[1, 2, 3, 4], ["x"], 5], ["is too long", "'x' is not of type 'integer'",
                                                    "5 is not of type 'array'"]),
])
def test_each_type_is_accepted_and_rejected_at_its_edges(tmp_path: Path, name: str, good: list[Any],
                                                         bad: list[Any], message: list[str]) -> None:
    param = _params(tmp_path)[name]
    for value in good:
        assert type(param)(value, **param.schema).resolve(suppress_exception=False) == value
    for value, expected in zip(bad, message):
        with pytest.raises(ParamValidationError) as caught:
            type(param)(value, **param.schema).resolve(suppress_exception=False)
        assert expected in str(caught.value)


def test_defaults_and_form_widgets(tmp_path: Path) -> None:
    built = _params(tmp_path)
    assert {k: p.value for k, p in built.items() if k != "r"} == {
        "n": 3, "x": 0.5, "s": "cat", "b": False, "e": "fast", "f": "", "a": [1, 2]}
    assert built["f"].schema["format"] == "multiline"  # a text area for the file's content
    assert built["e"].schema["enum"] == ["fast", "accurate"]
    assert built["a"].schema["items"]["type"] == "integer" and built["a"].schema["maxItems"] == 3
    with pytest.raises(ParamValidationError, match="No value passed"):
        built["r"].resolve(suppress_exception=False)  # required, no default: the run must give it


def test_check_names_the_parameter(tmp_path: Path) -> None:
    compiled = _compile(tmp_path, INPUTS)
    problems = params.check(compiled.workflows[0].params, {"n": 11, "r": 1})
    assert problems == ["parameter 'n': 11 is greater than the maximum of 10"]
    assert params.env_name("my-input") == "INPUT_MY_INPUT"


@pytest.mark.parametrize(("inputs", "expected"), [
    ("      - {name: n, type: integer, default: three}", "the default 'three' of input 'n' is not a whole number"),
    ("      - {name: e, type: enumeration}", "the enumeration input 'e' needs `values:`"),
    ("      - {name: e, type: enumeration, values: [a], default: b}", "is not one of its values ['a']"),
    ("      - {name: s, type: string, minimum: 1}", "`minimum:` is for integer, number and array inputs"),
    ("      - {name: s, type: string, pattern: '('}", "is not a regular expression"),
    ("      - {name: u, url: 'https://x/y'}", "input 'u' needs `path:`"),
    ("      - {name: u, type: string, url: 'https://x/y'}", "needs exactly one of `type:`"),
    ("      - {name: 1x, type: string}", "may not start with a digit"),
    ("      - {name: t, type: tensor}", "Input should be 'integer', 'number', 'string', 'boolean'"),
])
def test_bad_input_definitions_say_where_and_what(tmp_path: Path, inputs: str, expected: str) -> None:
    compiled = _compile(tmp_path, inputs)
    text = "\n".join(str(e) for e in compiled.errors.values())
    assert expected in text, text
    assert f"{tmp_path / 'proj' / 'ame.yaml'}:" in text


def test_inline_and_url_inputs_and_outputs_reach_the_ir(tmp_path: Path) -> None:
    compiled = _compile(tmp_path, "      - {name: notes, content: hi, path: notes.txt}\n"
                                  "      - {name: img, url: 's3://b/img/', path: data/img}")
    run = compiled.workflows[0].graph
    assert run.inputs == (ir.TaskInput("notes", path="notes.txt", content="hi"),
                          ir.TaskInput("img", path="data/img", url="s3://b/img/"))
    assert compiled.workflows[0].params == ()


def test_only_a_parameter_without_default_that_must_be_given_is_required_in_the_trigger_form(tmp_path: Path) -> None:
    """Airflow's form marks a field required unless its schema type lists "null" (isParamRequired.tsx)."""
    built = _params(tmp_path)
    nullable = {k for k, p in built.items() if isinstance(p.schema.get("type"), list) and "null" in p.schema["type"]}
    assert nullable == {"n", "x", "s", "b", "f", "a"}  # e (an enumeration) has no type: the form never requires it
    assert built["r"].schema["type"] == "integer"
    assert built["a"].schema["type"][0] == "array"  # the form picks the widget by the first non-null type


def test_null_for_a_defaulted_parameter_means_its_default_and_bounds_still_hold(tmp_path: Path) -> None:
    compiled = _compile(tmp_path, INPUTS)
    specs = {p.name: p for p in compiled.workflows[0].params}
    assert params.given_value(specs["a"], {"a": None}) == [1, 2]
    assert params.given_value(specs["n"], {}) == 3
    assert params.given_value(specs["n"], {"n": 7}) == 7
    assert params.check(compiled.workflows[0].params, {"n": None, "a": None, "r": 1}) == []
    assert params.check(compiled.workflows[0].params, {"r": None}) == [
        "parameter 'r': None is not of type 'integer'"]
    assert params.check(compiled.workflows[0].params, {"x": 1.5, "r": 1}) == [
        "parameter 'x': 1.5 is greater than the maximum of 1"]


def test_a_step_gets_the_default_for_a_field_the_form_left_empty(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from airflow.sdk import DAG
    from airflow_taskspec.backends.step import _defaults_for_empty_params

    compiled = _compile(tmp_path, INPUTS)
    dag = DAG("d", params=params.airflow_params(compiled.workflows[0].params), schedule=None)
    context: dict[str, Any] = {"params": {"n": None, "a": None, "r": 4, "x": 0.25}}  # the task's context
    _defaults_for_empty_params(context, SimpleNamespace(dag=dag))
    assert {k: context["params"][k] for k in ("n", "a", "r", "x")} == {"n": 3, "a": [1, 2], "r": 4, "x": 0.25}
