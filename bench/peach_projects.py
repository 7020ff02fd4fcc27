"""PEACH projects for the parse benchmark, and the same loops hand-written as one Airflow operator per task.

``organisations`` projects, one organisation (codops) each, alternating the two generations:

- even: one ``peach.yaml`` at the project root, legacy generation (root ``dependencies``, the reserved
  ``tasks.dependencies`` key, a task's own ``dependencies``);
- odd: a ``peach.conf/`` folder with ``loop.yaml`` and ``metadata/meta.yaml``, current generation
  (``py_environments`` with ``base`` and a second environment some tasks name).

Each organisation has ``tasks`` notebook tasks, the last two of them in the metadata loop, spread over two real
notebooks (markdown, imports, a magic, a side-effect cell, one cell per method), with nested ``args`` of every
YAML type. taskspec makes ``peach.<codops>`` per organisation and one ``peach.metadata``.

The hand-written side is what a user writes without taskspec for the same loops: one Python file per
organisation plus one for the metadata loop, ``schedule="@continuous"``, ``max_active_runs=1``, the same
params (``<task>.<arg>``, typed, with titles and descriptions) and one PythonOperator per task with its
notebook, method and args, each after the previous one whatever its outcome (``all_done``), with the same
execution timeouts.
"""

from __future__ import annotations

import json
from pathlib import Path

METADATA_TASKS = 2
REQUIREMENTS = ["orjson==3.10.18", "python-dateutil==2.9.0.post0", "requests>=2.31"]


def _args(i: int) -> dict[str, object]:
    return {"source": f"data/items_{i % 3}.json", "top": 3 + i, "ratio": 0.25 * (i % 4), "enabled": i % 2 == 0,
            "labels": ["news", "sport", f"l{i}"], "weights": {"election": 3, "storm": 2, "local": [1, 0.5]}}


def _method(i: int) -> str:
    return f"step_{i}"


def _notebook_of(i: int) -> str:
    return f"notebooks/loop_{i % 2}.ipynb"


def notebook(methods: list[int]) -> str:
    """A real notebook: markdown, imports, a magic, a side effect that must not run, one cell per method."""
    def code(source: str) -> dict[str, object]:
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": source.splitlines(keepends=True)}

    cells: list[dict[str, object]] = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Generated notebook for the parse benchmark"]},
        code("import json\nfrom pathlib import Path\n"),
        code("%load_ext autoreload\n"),
        code("Path('SIDE_EFFECT_RAN').write_text('exploration')\n"),
    ]
    for i in methods:
        cells.append(code(
            f"def {_method(i)}(source, top=3, ratio=0.5, enabled=True, labels=(), weights=None):\n"
            "    items = json.loads(Path(source).read_text())\n"
            "    return {'count': len(items[:top]), 'ratio': ratio, 'labels': list(labels)}\n"))
    for n, cell in enumerate(cells):
        cell["id"] = f"c{n:04d}"
    return json.dumps({"cells": cells, "metadata": {"language_info": {"name": "python"}}, "nbformat": 4,
                       "nbformat_minor": 5}, indent=1)


def _task_yaml(i: int, metadata: bool, legacy: bool) -> list[str]:
    lines = [f"  task_{i}:", "    executor: python", f"    notebook: {_notebook_of(i)}", f"    method: {_method(i)}"]
    if metadata:
        lines.append("    loop: metadata")
    if legacy and i % 3 == 0:
        lines.append(f"    dependencies: [\"{REQUIREMENTS[i % len(REQUIREMENTS)]}\"]")
    if not legacy and i % 3 == 1:
        lines.append("    py_env: ml")
    lines.append("    args:")
    for key, value in _args(i).items():
        lines.append(f"      {key}: {json.dumps(value)}")
    return lines


def codops(p: int) -> str:
    return f"org{p:03d}"


def write_project(folder: Path, p: int, tasks: int) -> None:
    """One organisation's project folder (spec files, notebooks, data)."""
    legacy = p % 2 == 0
    loop = list(range(tasks - METADATA_TASKS))
    meta = list(range(tasks - METADATA_TASKS, tasks))
    (folder / "notebooks").mkdir(parents=True)
    (folder / "data").mkdir()
    for n in (0, 1):
        (folder / "notebooks" / f"loop_{n}.ipynb").write_text(notebook([i for i in range(tasks) if i % 2 == n]))
    for n in range(3):
        (folder / "data" / f"items_{n}.json").write_text(json.dumps(list(range(10))))
    head = [f"# Organisation {codops(p)}, {'legacy' if legacy else 'current'} generation.", f"codops: {codops(p)}"]
    if legacy:
        lines = head + ["tasks:", f"  dependencies: [\"{REQUIREMENTS[0]}\"]"]
        for i in loop + meta:
            lines += _task_yaml(i, i in meta, legacy)
        lines += ["dependencies:", *[f"  - \"{r}\"" for r in REQUIREMENTS[1:]]]
        (folder / "peach.yaml").write_text("\n".join(lines) + "\n")
        return
    conf = folder / "peach.conf"
    (conf / "metadata").mkdir(parents=True)
    envs = ["py_environments:", "  base:", f"    dependencies: [\"{REQUIREMENTS[0]}\"]", "  ml:",
            f"    dependencies: [\"{REQUIREMENTS[1]}\"]"]
    lines = head + envs + ["tasks:"]
    for i in loop:
        lines += _task_yaml(i, False, legacy)
    (conf / "loop.yaml").write_text("\n".join(lines) + "\n")
    lines = head + envs + ["tasks:"]
    for i in meta:
        lines += _task_yaml(i, True, legacy)
    (conf / "metadata" / "meta.yaml").write_text("\n".join(lines) + "\n")


HAND_HEADER = '''\
"""PEACH loops written by hand: one PythonOperator per notebook task, run one after the other, continuously."""
from datetime import timedelta

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param, chain


def run_notebook(notebook, method, args, **context):
    """Run ``method(**args)`` from the notebook's cell that defines it (what a user would write once)."""
    import ast
    import json

    cells = [c for c in json.load(open(notebook))["cells"] if c["cell_type"] == "code"]
    for cell in cells:
        source = "".join(cell["source"])
        tree = ast.parse("\\n".join(l for l in source.splitlines() if not l.startswith(("%", "!"))))
        if any(isinstance(n, ast.FunctionDef) and n.name == method for n in tree.body):
            namespace = {{}}
            exec(compile(tree, notebook, "exec"), namespace)
            return namespace[method](**args)
    raise ValueError(f"{{notebook}} defines no {{method}}")


JSON_TYPES = {{bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}}


def loop(dag_id, title, tasks, timeout, tags):
    """tasks: (task id, param prefix, notebook path, method, args)."""
    # Nullable, as taskspec's are: Airflow's trigger form marks a field required unless its type allows null.
    params = {{f"{{prefix}}{{key}}": Param(value, type=[JSON_TYPES[type(value)], "null"], title=f"{{prefix}}{{key}}",
                                        description=f"`{{key}}` of {{method}}() in {{nb}} (task {{task_id}})")
              for task_id, prefix, nb, method, args in tasks for key, value in args.items()}}
    with DAG(dag_id=dag_id, dag_display_name=title, schedule="@continuous", max_active_runs=1, catchup=False,
             tags=tags, default_args={{"owner": "peach"}}, params=params,
             doc_md=f"Runs its tasks one after the other, again and again.") as dag:
        chain(*[PythonOperator(
            task_id=task_id, python_callable=run_notebook, execution_timeout=timedelta(seconds=timeout),
            trigger_rule="all_done" if i else "all_success",
            op_kwargs={{"notebook": nb, "method": method,
                        "args": {{key: "{{{{ params['" + prefix + key + "'] }}}}" for key in args}}}})
            for i, (task_id, prefix, nb, method, args) in enumerate(tasks)])
    return dag

'''


def hand_written(projects: dict[int, Path], tasks: int) -> dict[str, str]:
    """file name -> text: one file per organisation, one for the metadata loop."""
    files = {}
    meta_tasks = []
    for p, folder in projects.items():
        loop = []
        for i in range(tasks):
            entry = (f"task_{i}", str(folder / _notebook_of(i)), _method(i), _args(i))
            if i >= tasks - METADATA_TASKS:
                meta_tasks.append((f"{codops(p)}.task_{i}", f"{codops(p)}.task_{i}.", *entry[1:]))
            else:
                loop.append((entry[0], f"task_{i}.", *entry[1:]))
        files[f"peach_{codops(p)}.py"] = (HAND_HEADER.format() + f"TASKS = {loop!r}\n\n"
                                          f"dag = loop('peach.{codops(p)}', 'PEACH {codops(p)}', TASKS, 3600, "
                                          f"['peach', '{codops(p)}'])\n")
    used = sorted({t[0].split(".")[0] for t in meta_tasks})
    files["peach_metadata.py"] = (HAND_HEADER.format() + f"TASKS = {meta_tasks!r}\n\n"
                                  f"dag = loop('peach.metadata', 'PEACH metadata loop', TASKS, 300, "
                                  f"['peach', 'metadata', *{used!r}])\n")
    return files
