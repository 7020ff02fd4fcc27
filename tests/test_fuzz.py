"""Property-based fuzzing of the front end: generated and mutated AME and PEACH documents (structure, types, tags,
aliases, unicode, huge values) through the loader, beside one good project.

For every document: no exception escapes, the good project's DAG is still there, every diagnostic carries its
file with a line and column >= 1, and the compile finishes (an alarm turns a hang into a failure).
A short run is part of the suite; `make fuzz` runs many more examples (TASKSPEC_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from airflow_taskspec import resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("TASKSPEC_FUZZ_EXAMPLES", "60"))
HANG_SECONDS = 30  # a hang detector, not a speed bound: a compile of one small file takes milliseconds
# A name no generated document uses: a project-name clash is a real conflict, reported in the second file.
GOOD = "name: untouched_good\ntasks:\n  - name: t\n    executor: !custom\n      command: 'true'\n"

AME_KEYS = ["name", "project", "tasks", "templates", "models", "dataSets", "executor", "command", "pythonVersion",
            "pipeline", "taskRef", "taskref", "fromTemplate", "resources", "environment", "env", "secrets",
            "triggers", "schedule", "artifacts", "paths", "saveChangedFiles", "image", "key", "val", "injectAs",
            "training", "task", "validationTask", "path", "size", "cpu", "memory", "nvidia.com/gpu", "projectid",
            "runcommand", "taskType", "type", "deployment", "nmae", "exectuor"]
PEACH_KEYS = ["codops", "tasks", "dependencies", "py_environments", "py_env", "base", "notebook", "method",
              "executor", "args", "loop", "full_notebook", "endpoints", "metadata", "python", "codps", "mehtod"]
TAGS = ["!pip", "!poetry", "!pipEnv", "!custom", "!mlflow", "!ame", "!vault", "!bogus", "!!str", "!!int",
        "!!binary", "!!python/object", "!"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["* * * * *", "0 3 * * *", "@daily", "3.10", "500m", "1Gi", "-1", "1e400", "~", "''",
                     "notebook.ipynb", "../../etc/passwd", "/abs/path", "a" * 300, "é漢字🙂", "\x00", "\t"]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=3000),
)


def documents(keys: list[str]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(keys), st.text(min_size=1, max_size=12))
    return st.recursive(SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(key, inner, max_size=6)), max_leaves=40)


def ame_documents() -> st.SearchStrategy[Any]:
    task = st.fixed_dictionaries({"name": st.sampled_from(["t1", "t2", "bad name", ""])},
                                 optional={k: documents(AME_KEYS) for k in AME_KEYS[1:20]})
    return st.one_of(documents(AME_KEYS), st.fixed_dictionaries(
        {"name": st.sampled_from(["fz", "f z", "good", ""]), "tasks": st.lists(task, max_size=4)},
        optional={"templates": st.lists(task, max_size=2), "dataSets": documents(AME_KEYS),
                  "models": documents(AME_KEYS)}))


def peach_documents() -> st.SearchStrategy[Any]:
    task = st.fixed_dictionaries({"notebook": st.sampled_from(["n.ipynb", "missing.ipynb", ""]),
                                  "method": st.sampled_from(["run", "task", "1bad"])},
                                 optional={k: documents(PEACH_KEYS) for k in PEACH_KEYS
                                           if k not in ("notebook", "method")})
    return st.one_of(documents(PEACH_KEYS), st.fixed_dictionaries(
        {"codops": st.sampled_from(["zz", "debr", "", "x y"]), "tasks": st.dictionaries(
            st.sampled_from(["a", "b", "dependencies", "endpoints"]), task, max_size=3)},
        optional={"dependencies": documents(PEACH_KEYS), "py_environments": documents(PEACH_KEYS)}))


@st.composite
def mutated_text(draw: st.DrawFn, doc: st.SearchStrategy[Any]) -> str:
    """A document dumped as YAML, then changed as text: tags, anchors and aliases, cut lines, odd bytes."""
    try:
        text = yaml.safe_dump(draw(doc), allow_unicode=True, sort_keys=False, width=10**6)
    except (yaml.YAMLError, ValueError):
        text = "name: x\n"
    lines = text.splitlines() or [""]
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["tag", "anchor", "alias", "cut", "dup", "indent", "junk", "bomb"]))
        line = lines[i]
        if kind == "tag" and ":" in line:
            head, _, tail = line.partition(":")
            lines[i] = f"{head}: {draw(st.sampled_from(TAGS))}{tail}"
        elif kind == "anchor" and ":" in line:
            head, _, tail = line.partition(":")
            lines[i] = f"{head}: &a{tail}"
        elif kind == "alias" and ":" in line:
            lines[i] = line.partition(":")[0] + ": *a"
        elif kind == "cut":
            lines[i] = line[: draw(st.integers(0, len(line)))]
        elif kind == "dup":
            lines.insert(i, line)
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(0, 9)) + line.lstrip()
        elif kind == "junk":
            lines[i] = line + draw(st.sampled_from([" #", "\t", ": :", " [", " {", "\ufeff", "\x85", "'", '"']))
        else:
            lines[i:i] = ["b0: &b0 [x, x, x, x, x, x, x, x]"] + [
                f"b{n}: &b{n} [*b{n-1}, *b{n-1}, *b{n-1}, *b{n-1}, *b{n-1}, *b{n-1}, *b{n-1}, *b{n-1}]"
                for n in range(1, 9)]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n---\nsecond: doc\n"]))


@contextmanager
def hang_alarm(seconds: int) -> Iterator[None]:
    def fail(signum: int, frame: Any) -> None:
        raise AssertionError(f"the compile did not finish within {seconds}s (a hang)")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_folder(layout: dict[str, str | bytes]) -> None:
    with tempfile.TemporaryDirectory(prefix="taskspec-fuzz-") as tmp:
        root = Path(tmp)
        (root / "good").mkdir()
        (root / "good" / "ame.yaml").write_text(GOOD)
        for rel, content in layout.items():
            path = root / "fuzzed" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
        (root / "fuzzed" / "n.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        with hang_alarm(HANG_SECONDS):
            compilation = resolve.compile_paths([str(root)])
        assert "untouched_good.t" in {w.dag_id for w in compilation.workflows}, compilation.diagnostics()
        for diagnostic in compilation.diagnostics():
            assert diagnostic.file and diagnostic.line >= 1 and diagnostic.column >= 1, diagnostic
            assert "Traceback" not in diagnostic.message
            assert "bug in taskspec" not in diagnostic.hint, diagnostic  # an internal error the fuzzer found
        for file, error in compilation.errors.items():
            assert error.diagnostics, file


FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 60,
                suppress_health_check=list(HealthCheck))


@FUZZ
@given(text=mutated_text(ame_documents()))
def test_fuzzed_ame_files_never_escape_and_never_hide_others(text: str) -> None:
    check_folder({"ame.yaml": text})


@FUZZ
@given(text=mutated_text(peach_documents()), where=st.sampled_from(["peach.yaml", "peach.conf/a.yaml",
                                                                     "peach.conf/sub/b.yml"]))
def test_fuzzed_peach_files_never_escape_and_never_hide_others(text: str, where: str) -> None:
    check_folder({where: text})


@FUZZ
@given(raw=st.binary(max_size=300))
def test_random_bytes_as_a_spec_file(raw: bytes) -> None:
    check_folder({"ame.yaml": raw})
