"""The PEACH dialect: discovery patterns, both generations, merging by codops, order, loops, params, notebook
checks, and invalid files, each error at its file:line:column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# The dialect is written on the registry contract of branch `dialects` (dialects/contract.py); until that
# branch is merged this module cannot be imported here and these tests are reported as skipped, not passed.
contract = pytest.importorskip("airflow_taskspec.dialects.contract")

from airflow_taskspec import ir
from airflow_taskspec.dialects.peach import DIALECT, METADATA_GROUP
from airflow_taskspec.errors import Severity, SpecError

from tests.notebooks import write_notebook

METHOD_CELL = "import json\n\ndef task(user, item_id=0, **extra):\n    return {'user': user}\n"
STRICT_CELL = "def strict(user, item_id=0):\n    return user\n"


def _project(root: Path, files: dict[str, str], notebook_cells: list | None = None) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    write_notebook(root / "nb.ipynb", notebook_cells or [("markdown", "m"), "x = 1\n", METHOD_CELL, STRICT_CELL])
    return root


def _read(path: Path):
    return DIALECT.read(str(path), path.read_text())


def _normalise(paths: list[Path], key: str):
    parsed = [_read(p) for p in sorted(paths)]
    group = contract.Group(key, tuple(contract.SpecFile(p.file, p) for p in parsed if key in DIALECT.group_keys(p)))
    return DIALECT.normalise(group, None)


def _errors(result) -> list[str]:
    return sorted(f"{Path(d.file).name}:{d.line}:{d.column}: {d.message}" for found in result.diagnostics.values()
                  for d in found if d.severity is Severity.ERROR)


def _claims(path: str) -> bool:
    return any(p.match(path) is not None for p in DIALECT.patterns)


def test_discovery_patterns_root_file_peach_conf_and_one_level_below_not_two() -> None:
    assert _claims("dags/org/peach.yaml")
    assert _claims("dags/org/peach.conf/tf.yaml") and _claims("dags/org/peach.conf/tf.yml")
    assert _claims("dags/org/peach.conf/team/tf.yaml") and _claims("dags/org/peach.conf/team/tf.yml")
    assert not _claims("dags/org/peach.conf/team/deeper/tf.yaml")
    assert not _claims("dags/org/peach.yml") and not _claims("dags/org/peach.conf/notes.txt")
    # Hidden files, as a glob skips them: an editor's draft, macOS's AppleDouble `._` files on shared drives.
    assert not _claims("dags/org/peach.conf/.draft.yaml") and not _claims("dags/org/peach.conf/team/._tf.yaml")
    assert contract.project_folder("/d/org/peach.conf/team/tf.yaml", DIALECT.patterns) == "/d/org"
    assert contract.project_folder("/d/org/peach.yaml", DIALECT.patterns) == "/d/org"


LEGACY = """\
codops: debr
tasks:
  dependencies:
    - orjson==3.3.1
  related:
    executor: python
    notebook: nb.ipynb
    method: task
    args:
      user: f57246b6
      item_id: 35421
      ratio: 23.45
      on: true
      message: "used for testing only"
      my_dict:
        item1: message
        second_dict: {sub_item1: 8734, sub_item2: [test, 23.45]}
    dependencies:
      - pyarrow
  no_args:
    notebook: nb.ipynb
    method: strict
    args: {user: me}
  fetch:
    loop: metadata
    notebook: nb.ipynb
    method: task
    args: {user: meta}
dependencies:
  - pyarrow==16.1.0
"""


def test_legacy_generation_one_environment_per_codops_from_every_list(tmp_path: Path) -> None:
    p = _project(tmp_path / "a", {"peach.yaml": LEGACY})
    result = _normalise([p / "peach.yaml"], "debr")
    assert _errors(result) == []
    [wf] = result.workflows
    assert wf.dag_id == "peach.debr"
    assert [r.name for r in ir.task_runs(wf.graph)] == ["related", "no_args"]  # fetch is in the metadata loop
    envs = {r.recipe.environment for r in ir.task_runs(wf.graph)}
    # The reserved `tasks.dependencies`, the root list and the task's own list; pinned wins over unpinned.
    assert envs == {ir.PythonEnvironment("debr", ("orjson==3.3.1", "pyarrow==16.1.0"))}


def test_the_organisation_loop_shape(tmp_path: Path) -> None:
    p = _project(tmp_path / "a", {"peach.yaml": LEGACY})
    [wf] = _normalise([p / "peach.yaml"], "debr").workflows
    assert wf.schedule == ir.Continuous() and wf.max_active_runs == 1
    assert isinstance(wf.graph, ir.Sequence) and wf.graph.continue_on_failure
    assert wf.tags == ("peach", "debr")
    assert {r.timeout_seconds for r in ir.task_runs(wf.graph)} == {3600}
    assert "airflow dags trigger peach.debr --conf" in wf.description


def test_args_shared_by_a_yaml_alias_reach_both_tasks_typed(tmp_path: Path) -> None:
    text = ("codops: debr\ntasks:\n  first:\n    notebook: nb.ipynb\n    method: task\n    args: &common\n"
            "      user: u1\n      item_id: 7\n  second:\n    notebook: nb.ipynb\n    method: task\n"
            "    args: *common\n")
    p = _project(tmp_path / "a", {"peach.yaml": text})
    result = _normalise([p / "peach.yaml"], "debr")
    assert _errors(result) == []
    [wf] = result.workflows
    params = {prm.name: (prm.type, json.loads(prm.default)) for prm in wf.params}
    for task in ("first", "second"):
        assert params[f"{task}.user"] == (ir.ParamType.STRING, "u1")
        assert params[f"{task}.item_id"] == (ir.ParamType.INTEGER, 7)


def test_a_dag_is_defined_at_the_codops_key_of_its_first_file(tmp_path: Path) -> None:
    text = "# the organisation\n\ncodops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n    method: task\n" \
           "    args: {user: x}\n"
    p = _project(tmp_path / "a", {"peach.yaml": text})
    [wf] = _normalise([p / "peach.yaml"], "debr").workflows
    assert (wf.origin.file, wf.origin.line, wf.origin.column) == (str(p / "peach.yaml"), 3, 1)


def test_args_become_params_typed_from_yaml_and_arguments_name_them(tmp_path: Path) -> None:
    p = _project(tmp_path / "a", {"peach.yaml": LEGACY})
    [wf] = _normalise([p / "peach.yaml"], "debr").workflows
    params = {prm.name: (prm.type, json.loads(prm.default)) for prm in wf.params}
    assert params["related.user"] == (ir.ParamType.STRING, "f57246b6")
    assert params["related.item_id"] == (ir.ParamType.INTEGER, 35421)
    assert params["related.ratio"] == (ir.ParamType.NUMBER, 23.45)
    assert params["related.on"] == (ir.ParamType.BOOLEAN, True)
    assert params["related.my_dict"] == (ir.ParamType.OBJECT, {
        "item1": "message", "second_dict": {"sub_item1": 8734, "sub_item2": ["test", 23.45]}})
    assert params["no_args.user"] == (ir.ParamType.STRING, "me")
    related = ir.task_runs(wf.graph)[0]
    assert related.recipe.arguments[1] == ir.Argument("item_id", "related.item_id")


CURRENT = """\
codops: sesr
py_environments:
  base:
    dependencies: [orjson==3.3.1]
  science:
    dependencies: [numpy==2.0.0]
tasks:
  plain:
    notebook: nb.ipynb
    method: task
    args: {user: a}
  heavy:
    py_env: science
    notebook: nb.ipynb
    method: task
    args: {user: b}
"""


def test_current_generation_one_environment_per_py_env_plus_base(tmp_path: Path) -> None:
    p = _project(tmp_path / "b", {"peach.conf/loop.yaml": CURRENT})
    result = _normalise([p / "peach.conf" / "loop.yaml"], "sesr")
    assert _errors(result) == []
    envs = [r.recipe.environment for r in ir.task_runs(result.workflows[0].graph)]
    assert envs == [ir.PythonEnvironment("sesr.base", ("orjson==3.3.1",)),
                    ir.PythonEnvironment("sesr.science", ("numpy==2.0.0", "orjson==3.3.1"))]


def test_files_merge_by_codops_in_file_path_then_file_order(tmp_path: Path) -> None:
    one = _project(tmp_path / "one", {
        "peach.conf/b.yaml": "codops: zz\ntasks:\n  b2: {notebook: nb.ipynb, method: task, args: {user: x}}\n"
                             "  b1: {notebook: nb.ipynb, method: task, args: {user: x}}\n",
        "peach.conf/a/z.yaml": "codops: zz\ntasks:\n  a1: {notebook: nb.ipynb, method: task, args: {user: x}}\n"})
    two = _project(tmp_path / "two", {"peach.yaml": "codops: zz\ntasks:\n  c1: {notebook: nb.ipynb, method: task, "
                                                    "args: {user: x}}\n"})
    other = _project(tmp_path / "three", {"peach.yaml": "codops: yy\ntasks:\n  d1: {notebook: nb.ipynb, "
                                                        "method: task, args: {user: x}}\n"})
    paths = [one / "peach.conf/b.yaml", one / "peach.conf/a/z.yaml", two / "peach.yaml", other / "peach.yaml"]
    [wf] = _normalise(paths, "zz").workflows
    assert [r.name for r in ir.task_runs(wf.graph)] == ["a1", "b2", "b1", "c1"]
    assert {r.source.folder for r in ir.task_runs(wf.graph)} == {str(one), str(two)}


def test_the_metadata_loop_holds_every_organisations_metadata_tasks(tmp_path: Path) -> None:
    a = _project(tmp_path / "a", {"peach.yaml": LEGACY})
    b = _project(tmp_path / "b", {"peach.conf/x/m.yaml": "codops: sesr\ntasks:\n  pull:\n    loop: metadata\n"
                                                         "    notebook: nb.ipynb\n    method: task\n"
                                                         "    args: {user: s}\n"})
    result = _normalise([a / "peach.yaml", b / "peach.conf/x/m.yaml"], METADATA_GROUP)
    [wf] = result.workflows
    assert wf.dag_id == "peach.metadata"
    assert [r.name for r in ir.task_runs(wf.graph)] == ["debr.fetch", "sesr.pull"]
    assert {r.timeout_seconds for r in ir.task_runs(wf.graph)} == {300}
    assert [p.name for p in wf.params] == ["debr.fetch.user", "sesr.pull.user"]
    assert wf.tags == ("peach", "metadata", "debr", "sesr")
    assert DIALECT.groups_of_dag_id("peach.metadata") == (METADATA_GROUP,)
    assert DIALECT.groups_of_dag_id("peach.debr") == ("debr",)


def test_timeouts_come_from_the_taskspec_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_TASK_TIMEOUT", "7")
    monkeypatch.setenv("AIRFLOW__TASKSPEC__PEACH_METADATA_TIMEOUT", "3")
    p = _project(tmp_path / "a", {"peach.yaml": LEGACY})
    [wf] = _normalise([p / "peach.yaml"], "debr").workflows
    [meta] = _normalise([p / "peach.yaml"], METADATA_GROUP).workflows
    assert {r.timeout_seconds for r in ir.task_runs(wf.graph)} == {7}
    assert {r.timeout_seconds for r in ir.task_runs(meta.graph)} == {3}


def test_endpoints_are_checked_then_skipped_with_a_warning(tmp_path: Path) -> None:
    text = ("codops: debr\ntasks:\n  t: {notebook: nb.ipynb, method: task, args: {user: x}}\nendpoints:\n"
            "  recommend:\n    notebook: nb.ipynb\n    method: task\n  broken:\n    notebook: nb.ipynb\n"
            "    method: nothere\n")
    p = _project(tmp_path / "a", {"peach.yaml": text})
    result = _normalise([p / "peach.yaml"], "debr")
    warnings = [d for found in result.diagnostics.values() for d in found if d.severity is Severity.WARNING]
    assert [(d.line, d.column) for d in warnings] == [(5, 3)]
    assert "served by PEACH's recommendation API, not scheduled" in warnings[0].message
    assert _errors(result) == ["peach.yaml:10:13: no code cell of nb.ipynb defines `def nothere(...)` at top level"]
    assert [r.name for r in ir.task_runs(result.workflows[0].graph)] == ["t"]


def test_a_broken_task_does_not_drop_the_other_tasks(tmp_path: Path) -> None:
    text = ("codops: debr\ntasks:\n  good: {notebook: nb.ipynb, method: task, args: {user: x}}\n"
            "  bad: {notebook: nb.ipynb, methd: task}\n")
    p = _project(tmp_path / "a", {"peach.yaml": text})
    result = _normalise([p / "peach.yaml"], "debr")
    # The misspelled key, with its did-you-mean; "missing required key 'method'" beside it would say it twice.
    assert _errors(result) == ["peach.yaml:4:29: unknown key 'methd'"]
    assert [r.name for r in ir.task_runs(result.workflows[0].graph)] == ["good"]


def test_args_keys_stay_as_written_so_yaml_1_1_booleans_and_numbers_do_not_merge(tmp_path: Path) -> None:
    # PyYAML reads the keys `1:` and `on:` as 1 and True, one dict key: one argument would be lost.
    text = ("codops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n    method: task\n"
            "    args: {user: x, nested: {1: one, on: two, off: 3}}\n")
    p = _project(tmp_path / "a", {"peach.yaml": text})
    result = _normalise([p / "peach.yaml"], "debr")
    assert _errors(result) == []
    params = {prm.name: json.loads(prm.default) for prm in result.workflows[0].params}
    assert params["t.nested"] == {"1": "one", "on": "two", "off": 3}


def test_an_argument_json_cannot_carry_is_an_error_at_its_place_and_loses_no_other_task(tmp_path: Path) -> None:
    # Before, one tag PyYAML's safe loader refuses emptied the args of every task in the file, without a word;
    # binary data or a set stopped the compile with an internal error.
    text = ("codops: debr\ntasks:\n"
            "  good:\n    notebook: nb.ipynb\n    method: task\n    args: {user: x, when: 2024-05-01}\n"
            "  tagged:\n    notebook: nb.ipynb\n    method: task\n    args: {user: !custom x}\n"
            "  odd:\n    notebook: nb.ipynb\n    method: task\n"
            "    args:\n      user: !!binary aGVsbG8=\n      tags: !!set {a, b}\n      limit: [1, .inf]\n"
            "      day: 2024-02-30\n      obj: !!python/object:os.system [echo]\n")
    p = _project(tmp_path / "a", {"peach.yaml": text})
    result = _normalise([p / "peach.yaml"], "debr")
    assert _errors(result) == sorted([
        "peach.yaml:10:18: argument 'user' is a value tagged `!custom`: " + JSON_ONLY,
        "peach.yaml:15:13: argument 'user' is binary data (`!!binary`): " + JSON_ONLY,
        "peach.yaml:16:13: argument 'tags' is a set (`!!set`): " + JSON_ONLY,
        "peach.yaml:17:18: argument 'limit[1]' is .inf, which JSON has no number for: " + JSON_ONLY,
        "peach.yaml:18:12: argument 'day' is '2024-02-30', which YAML reads as a date, but no such date exists: "
        + JSON_ONLY,
        "peach.yaml:19:12: argument 'obj' is a value tagged `!!python/object:os.system`: " + JSON_ONLY,
    ])
    [wf] = result.workflows
    assert [r.name for r in ir.task_runs(wf.graph)] == ["good"]
    params = {prm.name: json.loads(prm.default) for prm in wf.params}
    assert params == {"good.user": "x", "good.when": "2024-05-01"}  # a date travels as ISO text


def test_a_cell_python_cannot_parse_for_its_depth_is_reported_as_such_not_as_a_bug_in_taskspec(tmp_path: Path) -> None:
    # ast.parse raised RecursionError (deep binary operators) or MemoryError (deep unary ones): the file's
    # compile failed with "this is a bug in taskspec"; and a cell with a NUL byte was reported at "line None".
    text = "codops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n    method: task\n    args: {user: x}\n"
    p = _project(tmp_path / "a", {"peach.yaml": text},
                 ["x = " + "1+" * 200_000 + "1\n", "y = " + "-" * 200_000 + "1\n", "z = 1\x00\n", METHOD_CELL])
    result = _normalise([p / "peach.yaml"], "debr")
    assert _errors(result) == []  # the method's own cell is valid: only it runs
    p = _project(tmp_path / "b", {"peach.yaml": text.replace("method: task", "method: missing")},
                 ["x = " + "1+" * 200_000 + "1\n", "y = " + "-" * 200_000 + "1\n", "z = 1\x00\n", METHOD_CELL])
    [error] = _errors(_normalise([p / "peach.yaml"], "debr"))
    assert error.endswith("cells that are not valid Python: cell 1 (the code is nested too deeply for Python's "
                          "parser), cell 2 (the code is nested too deeply for Python's parser), cell 3 (source "
                          "code string cannot contain null bytes)"), error


JSON_ONLY = "an argument must be text, a number, true/false, null, a list or a mapping"


@pytest.mark.parametrize("kind, text, error", [
    ("an invalid requirement", "dependencies: [orjson, 'pandas>>2']\n",
     "peach.yaml:2:24: 'pandas>>2' is not a valid requirement"),
    ("two pins of one package", "dependencies: [orjson==3.3.1, orjson==3.4.0]\n",
     "peach.yaml:2:31: 'orjson==3.4.0' conflicts with 'orjson==3.3.1'"),
    ("a list that is not a list", "dependencies: orjson\n", "peach.yaml:2:15: 'dependencies' must be a list"),
    ("an unreadable py_environments", "py_environments: [orjson]\n",
     "peach.yaml:2:18: 'py_environments' must be a mapping"),
    ("an invalid requirement in base", "py_environments:\n  base: {dependencies: ['orjson==']}\n",
     "peach.yaml:3:25: 'orjson==' is not a valid requirement"),
    ("an environment left empty", "py_environments:\n  base:\n", "peach.yaml:3:8: 'base' must be a mapping"),
])
def test_no_task_is_built_in_an_environment_that_cannot_be_built_as_written(tmp_path: Path, kind: str, text: str,
                                                                             error: str) -> None:
    p = _project(tmp_path / "a", {"peach.yaml": "codops: debr\n" + text + "tasks:\n" + TASK})
    result = _normalise([p / "peach.yaml"], "debr")
    errors = _errors(result)
    assert len(errors) == 1 and errors[0].startswith(error), errors
    hints = [d.hint for found in result.diagnostics.values() for d in found]
    assert result.workflows in ([], [None]) or not ir.task_runs(result.workflows[0].graph), kind
    if "must be" not in error:  # the model's own messages say what is wrong; ours also say what follows
        assert all(h.endswith("no task that runs in this environment is built") for h in hints)


def test_a_bad_key_elsewhere_in_the_file_keeps_its_environments(tmp_path: Path) -> None:
    # The file's model check failing on `extra:` used to drop `py_environments` too, and the task ran without
    # the requirements written for it.
    text = "codops: debr\nextra: 1\npy_environments:\n  base: {dependencies: [orjson==3.3.1]}\ntasks:\n" + TASK
    p = _project(tmp_path / "a", {"peach.yaml": text})
    result = _normalise([p / "peach.yaml"], "debr")
    assert _errors(result) == ["peach.yaml:2:1: unknown key 'extra'"]
    [run] = ir.task_runs(result.workflows[0].graph)
    assert run.recipe.environment.requirements == ("orjson==3.3.1",)


@pytest.mark.parametrize("lines, requirements", [
    (["requests>=2", "requests[socks]<3"], ("requests>=2", "requests[socks]<3")),  # pip and uv take both
    (["pandas", "pandas==2.2.2", "pandas"], ("pandas==2.2.2",)),  # a bare name beside a pin adds nothing
    (["numpy==1.26.4", "numpy>=1.20,<2"], ("numpy==1.26.4", "numpy>=1.20,<2")),  # kept as written
    (["scipy==1.11", "scipy==1.11.0"], ("scipy==1.11", "scipy==1.11.0")),  # one version, written two ways
    (["six==1.*", "six==1.16.0"], ("six==1.*", "six==1.16.0")),
])
def test_lines_of_one_package_that_can_hold_together_are_kept_together(tmp_path: Path, lines: list[str],
                                                                         requirements: tuple[str, ...]) -> None:
    text = ("codops: debr\npy_environments:\n  base: {dependencies: [" + ", ".join(f"'{x}'" for x in lines[:1])
            + "]}\n  sci: {dependencies: [" + ", ".join(f"'{x}'" for x in lines[1:]) + "]}\n"
            "tasks:\n" + TASK.replace("    args:", "    py_env: sci\n    args:"))
    result = _normalise([_project(tmp_path / "a", {"peach.yaml": text}) / "peach.yaml"], "debr")
    assert _errors(result) == []
    [run] = ir.task_runs(result.workflows[0].graph)
    assert run.recipe.environment.requirements == requirements


@pytest.mark.parametrize("lines, error", [
    (["numpy==1.26.4", "numpy<1"], "'numpy<1' conflicts with 'numpy==1.26.4'"),  # the pin is excluded
    (["numpy>=2", "numpy==1.26.4"], "'numpy==1.26.4' conflicts with 'numpy>=2'"),
    (["six==2.*", "six==1.16.0"], "'six==1.16.0' conflicts with 'six==2.*'"),
    (["x===1.0a", "x===1.0b"], "'x===1.0b' conflicts with 'x===1.0a'"),
])
def test_lines_no_version_satisfies_together_are_an_error(tmp_path: Path, lines: list[str], error: str) -> None:
    text = "codops: debr\ndependencies: [" + ", ".join(f"'{x}'" for x in lines) + "]\ntasks:\n" + TASK
    result = _normalise([_project(tmp_path / "a", {"peach.yaml": text}) / "peach.yaml"], "debr")
    [said] = _errors(result)
    assert error in said, said
    assert result.workflows in ([], [None]) or not ir.task_runs(result.workflows[0].graph)


# -- invalid files: each kind with its file:line:column ---------------------------------------------------------------

TASK = "  t:\n    notebook: nb.ipynb\n    method: task\n    args: {user: x}\n"

INVALID = {
    "unknown key with a suggestion": (
        "codops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n    method: task\n    ful_notebook: true\n",
        "peach.yaml:6:5: unknown key 'ful_notebook'", "did you mean 'full_notebook'?"),
    "unknown root key": ("codops: debr\ntask:\n" + TASK, "peach.yaml:2:1: unknown key 'task'", "did you mean 'tasks'?"),
    "wrong type for full_notebook": (
        "codops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n    method: task\n    full_notebook: sometimes\n",
        "peach.yaml:6:20: 'full_notebook' must be true or false", "full_notebook: true"),
    "unknown loop": ("codops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n    method: task\n    loop: metdata\n",
                     "peach.yaml:6:11: unknown loop 'metdata'", "did you mean 'metadata'?"),
    "unknown executor": ("codops: debr\ntasks:\n  t:\n    executor: bash\n    notebook: nb.ipynb\n    method: task\n",
                         "peach.yaml:4:15: unknown executor 'bash'; accepted: 'python'", ""),
    "missing notebook": ("codops: debr\ntasks:\n  t:\n    method: task\n",
                         "peach.yaml:4:5: missing required key 'notebook'", "add `notebook:`"),
    "notebook does not exist": ("codops: debr\ntasks:\n  t:\n    notebook: gone.ipynb\n    method: task\n",
                                "peach.yaml:4:15: notebook gone.ipynb does not exist", "relative to the project"),
    "notebook is not a notebook": ("codops: debr\ntasks:\n  t:\n    notebook: fake.ipynb\n    method: task\n",
                                   "peach.yaml:4:15: fake.ipynb is not a Jupyter notebook: it is not valid JSON",
                                   "saved by Jupyter"),
    "method not defined at top level": (
        "codops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n    method: tsk\n",
        "peach.yaml:5:13: no code cell of nb.ipynb defines `def tsk(...)` at top level", "did you mean 'task'?"),
    "args key the method does not accept": (
        ("codops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n    method: strict\n    args:\n      user: x\n"
        "      itemid: 3\n"),
        "peach.yaml:8:7: args sets 'itemid', which def strict(user, item_id=0) does not accept", "cell 4"),
    "args not a mapping": ("codops: debr\ntasks:\n  t:\n    notebook: nb.ipynb\n    method: task\n    args: [1, 2]\n",
                           "peach.yaml:6:11: 'args' must be a mapping", ""),
    "unknown py_env": (
        ("codops: debr\npy_environments:\n  base: {dependencies: [six]}\n  science: {dependencies: []}\ntasks:\n"
        "  t:\n    py_env: sciense\n    notebook: nb.ipynb\n    method: task\n    args: {user: x}\n"),
        "peach.yaml:7:13: unknown py_env 'sciense'", "did you mean 'science'?"),
    "dependencies together with py_environments": (
        "codops: debr\npy_environments:\n  base: {dependencies: [six]}\ndependencies: [six]\ntasks:\n" + TASK,
        "peach.yaml:4:1: `dependencies` cannot be used together with `py_environments`", "py_env"),
    "py_env without py_environments": (
        "codops: debr\ntasks:\n  t:\n    py_env: base\n    notebook: nb.ipynb\n    method: task\n",
        "peach.yaml:4:5: task 't' names py_env 'base', but this file defines no `py_environments`", ""),
    "two pins of one package": (
        "codops: debr\ndependencies: [pyarrow==16.1.0]\ntasks:\n  dependencies: [pyarrow==15.0.0]\n" + TASK,
        "peach.yaml:4:18: 'pyarrow==15.0.0' conflicts with 'pyarrow==16.1.0' at", "same version"),
    "invalid requirement": ("codops: debr\ndependencies:\n  - 'pandas=>2'\ntasks:\n" + TASK,
                            "peach.yaml:3:5: 'pandas=>2' is not a valid requirement", "orjson==3.3.1"),
    "reserved codops": ("codops: metadata\ntasks:\n" + TASK, "peach.yaml:1:9: codops 'metadata' is reserved", ""),
    "missing codops": ("tasks:\n" + TASK, "peach.yaml:1:1: missing required key 'codops'", ""),
    "notebook outside the project": ("codops: debr\ntasks:\n  t:\n    notebook: ../x.ipynb\n    method: task\n",
                                     "peach.yaml:4:15: notebook '../x.ipynb' must be a path inside the project", ""),
}


@pytest.mark.parametrize("kind", sorted(INVALID))
def test_invalid_file(tmp_path: Path, kind: str) -> None:
    text, expected, hint = INVALID[kind]
    p = _project(tmp_path / "a", {"peach.yaml": text, "fake.ipynb": "print('not json')\n"})
    try:  # the file's own group: `debr`, or for a file without a valid codops the group of its own
        result = _normalise([p / "peach.yaml"], DIALECT.group_keys(_read(p / "peach.yaml"))[0])
    except SpecError as exc:  # nothing of the file is usable
        found = [d for d in exc.diagnostics]
    else:
        found = [d for ds in result.diagnostics.values() for d in ds if d.severity is Severity.ERROR]
    rendered = [f"{Path(d.file).name}:{d.line}:{d.column}: {d.message}" for d in found]
    assert any(r.startswith(expected) for r in rendered), rendered
    match = next(d for d, r in zip(found, rendered) if r.startswith(expected))
    assert hint in match.hint + match.message


def test_a_task_defined_twice_in_one_codops_names_both_places(tmp_path: Path) -> None:
    a = _project(tmp_path / "a", {"peach.yaml": "codops: debr\ntasks:\n" + TASK})
    b = _project(tmp_path / "b", {"peach.conf/x.yaml": "codops: debr\ntasks:\n" + TASK})
    result = _normalise([a / "peach.yaml", b / "peach.conf/x.yaml"], "debr")
    assert _errors(result) == [(f"x.yaml:3:3: task 't' of codops 'debr' is defined twice: here and at "
                               f"{a / 'peach.yaml'}:3:3")]


def test_the_json_schema_names_the_reserved_key() -> None:
    schema = DIALECT.json_schema()
    assert schema["required"] == ["codops"]
    assert schema["properties"]["tasks"]["properties"]["dependencies"]["type"] == "array"
    assert set(schema["$defs"]["Task"]["properties"]) >= {"notebook", "method", "args", "loop", "full_notebook",
                                                          "py_env", "executor"}


def test_a_file_without_a_valid_codops_is_still_checked_in_full_and_builds_nothing(tmp_path: Path) -> None:
    p = _project(tmp_path / "a", {"peach.yaml": "codops: DEBR\ntasks:\n" + TASK.replace("method: task", "method: nope")})
    parsed = _read(p / "peach.yaml")
    assert DIALECT.group_keys(parsed) == ("!DEBR",)  # in no organisation and not in the metadata loop
    result = _normalise([p / "peach.yaml"], "!DEBR")
    assert result.workflows == []
    errors = _errors(result)
    assert errors[0].startswith("peach.yaml:1:9: codops 'DEBR' must be lower-case")
    assert any("defines `def nope(...)`" in e for e in errors[1:]), errors  # a notebook check still ran


def test_notebook_checks_follow_the_notebooks_content_not_its_path(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks keep notebooks they have read, by content: a notebook rewritten between two compiles in one
    process (the same path, size and modification time) is read again; equal copies are read once."""
    import os

    from airflow_taskspec.dialects.peach import notebook_checks
    from airflow_taskspec.runtime import notebook

    nb = write_notebook(tmp_path / "nb.ipynb", ["def rank():\n    return 1\n"])
    stat = nb.stat()
    first = notebook_checks.read_cells(str(nb), "nb.ipynb")
    write_notebook(nb, ["def rnak():\n    return 1\n"])  # same size
    os.utime(nb, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert nb.stat().st_size == stat.st_size
    again = notebook_checks.read_cells(str(nb), "nb.ipynb")
    assert notebook.find_method(first, "rank") is not None
    assert notebook.find_method(again, "rank") is None and notebook.find_method(again, "rnak") is not None

    copy = tmp_path / "copy.ipynb"
    copy.write_bytes(nb.read_bytes())
    calls: list[str] = []
    real = notebook.code_cells_of
    monkeypatch.setattr(notebook, "code_cells_of", lambda text, name: calls.append(name) or real(text, name))
    assert notebook_checks.read_cells(str(copy), "nb.ipynb") == again
    assert notebook_checks.read_cells(str(copy), "copy.ipynb") == again  # another name: its own messages
    assert calls == ["copy.ipynb"]
