"""Parse benchmark: a DAG folder of AME and PEACH files against the same DAGs hand-written in Python, via DagBag.

    .venv/bin/python bench/run.py [--projects 20] [--tasks 10] [--steps 10] [--organisations 20]
                                  [--peach-tasks 10] [--repeat 5] [--out BENCHMARKS.md]

Generates, in a temporary folder, ``projects`` AME projects of ``tasks`` pipeline tasks (one DAG each) of
``steps`` inline steps, and ``organisations`` PEACH projects of ``peach-tasks`` notebook tasks each (both
generations, see ``peach_projects.py``), in two layouts: one loader file at the DAG folder's root (``root``),
and one loader file in each AME project folder plus one for the PEACH projects (``per-project``; PEACH files
merge by codops across projects and share ``peach.metadata``, so they need one loader above all of them).
Next to them the same DAGs written by hand as a user would write them without taskspec: one file per AME
project, one BashOperator per step with the same command and environment, chained; one file per PEACH
organisation (and one for the metadata loop), one PythonOperator per notebook task, with the same schedule,
params and timeouts. PEACH alone is measured too (``peach``, against ``hand-peach``). Each measurement is a
fresh process that imports Airflow, then times ``DagBag(folder)`` alone; the sides alternate in one run. The
ratios taskspec / hand-written go to their section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import peach_projects
from report import write_section

TARGET_RATIO = 1.3
TITLE = "DAG folder parse: AME and PEACH files vs the same DAGs hand-written in Python"

PROBE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
start, cpu = time.perf_counter(), time.process_time()
bag = DagBag(sys.argv[1])
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
tasks = sum(len(d.tasks) for d in bag.dags.values())
print(json.dumps({"seconds": seconds, "cpu": cpu, "dags": len(bag.dags), "tasks": tasks, "errors": len(bag.import_errors)}))
"""


def ame_project(project: str, tasks: int, steps: int) -> str:
    lines = [f"name: {project}", "tasks:"]
    for t in range(tasks):
        lines += [f"  - name: task_{t}", "    triggers:", '      schedule: "0 3 * * *"', "    pipeline:"]
        for s in range(steps):
            lines += [
                f"      - name: step_{s}",
                "        resources:",
                "          cpu: 500m",
                "          memory: 1Gi",
                "        env:",
                "          - key: STEP",
                f"            val: \"{s}\"",
                "        executor: !custom",
                "          pythonVersion: 3.11",
                f"          command: python step_{s}.py",
            ]
    return "\n".join(lines) + "\n"


HAND_WRITTEN = '''\
"""DAGs of project {project}, written by hand: per step one BashOperator with the step's command and env."""
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, chain

FOLDER = {folder!r}

for t in range({tasks}):
    dag_id = f"{project}.task_{{t}}"
    with DAG(dag_id=dag_id, dag_display_name=f"{project} / task_{{t}}", description=f"task_{{t}} of {project}",
             doc_md=f"### {project} / task_{{t}}", schedule="0 3 * * *", catchup=False,
             tags=["ame", "{project}"], default_args={{"owner": "taskspec"}}) as dag:
        chain(*[BashOperator(task_id=f"step_{{s}}", bash_command=f"python step_{{s}}.py", cwd=FOLDER,
                             env={{"STEP": str(s)}}, append_env=True) for s in range({steps})])
    globals()[dag_id] = dag
'''

LOADER = """\
# The Airflow DAG folder loader of taskspec: every AME project (ame.yml / ame.yaml) and PEACH project
# (peach.yaml / peach.conf/) below this folder becomes DAGs.
from airflow_taskspec.loader import load_dags

load_dags(__file__, globals())
"""


def generate(base: Path, args: argparse.Namespace) -> dict[str, Path]:
    """The DAG folders: AME + PEACH with a root loader, with a loader per project, hand-written; PEACH alone
    with a root loader, and hand-written."""
    names = {"root": "mixed_root", "per-project": "mixed_per_project", "hand": "mixed_python",
             "peach": "peach_root", "hand-peach": "peach_python"}
    folders = {side: base / name for side, name in names.items()}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for side in ("root", "peach"):
        (folders[side] / "taskspec_dags.py").write_text(LOADER)
    for p in range(args.projects):
        project = f"bench_{p:03d}"
        text = ame_project(project, args.tasks, args.steps)
        for layout in ("root", "per-project"):
            (folders[layout] / project).mkdir()
            (folders[layout] / project / "ame.yaml").write_text(text)
        (folders["per-project"] / project / "taskspec_dags.py").write_text(LOADER)
        source = str(folders["root"] / project)
        (folders["hand"] / f"{project}.py").write_text(HAND_WRITTEN.format(project=project, folder=source,
                                                                           tasks=args.tasks, steps=args.steps))
    (folders["per-project"] / "peach").mkdir()
    (folders["per-project"] / "peach" / "taskspec_dags.py").write_text(LOADER)
    for p in range(args.organisations):
        for folder in (folders["root"], folders["per-project"] / "peach", folders["peach"]):
            peach_projects.write_project(folder / f"peach_{p:03d}", p, args.peach_tasks)
    projects = {p: folders["peach"] / f"peach_{p:03d}" for p in range(args.organisations)}
    for name, text in peach_projects.hand_written(projects, args.peach_tasks).items():
        for side in ("hand", "hand-peach"):
            (folders[side] / name).write_text(text)
    return folders


def measure(folder: Path, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(folder)], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


SIDES = ("root", "hand", "per-project", "peach", "hand-peach")
ONE_DAG = {"one": "bench_000.task_0", "one-peach": "peach.org000"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--organisations", type=int, default=20)
    parser.add_argument("--peach-tasks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="taskspec-bench-"))
    try:
        folders = generate(base, args)
        env = dict(os.environ, AIRFLOW_HOME=str(base / "airflow_home"), TASKSPEC_COMPILE_CACHE_DIR=str(base / "cache"),
                   AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(base))
        ame_dags, peach_dags = args.projects * args.tasks, args.organisations + 1  # + peach.metadata
        expected = {"root": ame_dags + peach_dags, "per-project": ame_dags + peach_dags, "hand": ame_dags + peach_dags,
                    "peach": peach_dags, "hand-peach": peach_dags}
        cold = measure(folders["root"], env)  # first parse: empty compile cache
        measure(folders["peach"], env)  # its own files' first parse (another folder: other cache entries)
        results: dict[str, list[dict[str, float]]] = {side: [] for side in (*SIDES, *ONE_DAG)}
        for _ in range(args.repeat):
            for side in SIDES:
                results[side].append(measure(folders[side], env))
            # A task run parses the file for one DAG only (Airflow's parsing context names it).
            for side, dag_id in ONE_DAG.items():
                results[side].append(measure(folders["root"], dict(env, _AIRFLOW_PARSING_CONTEXT_DAG_ID=dag_id)))
        for side in SIDES:
            for result in results[side] + ([cold] if side == "root" else []):
                if result["dags"] != expected[side] or result["errors"]:
                    raise SystemExit(f"unexpected parse result {side} {result}; expected {expected[side]} DAGs, "
                                     "no errors")
        # Ours: the same steps plus one run teardown per DAG, and a PEACH loop's `loop_result`.
        extra = {"root": ame_dags + 2 * peach_dags, "per-project": ame_dags + 2 * peach_dags, "peach": 2 * peach_dags}
        for side, more in extra.items():
            hand = results["hand-peach" if side == "peach" else "hand"][0]["tasks"]
            if results[side][0]["tasks"] != hand + more:
                raise SystemExit(f"the sides differ: {side} {results[side][0]['tasks']} vs {hand} + {more}")
        body = write_report(args, cold, results)
        write_section(Path(args.out), TITLE, body)
        print(body)
        return 0 if max(ratios(results).values()) <= TARGET_RATIO else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


def median(rs: list[dict[str, float]], what: str = "seconds") -> float:
    return statistics.median(r[what] for r in rs)


def ratios(results: dict[str, list[dict[str, float]]], what: str = "seconds") -> dict[str, float]:
    """Warm-cache parse time (``seconds``: wall clock; ``cpu``: the process's CPU time) over the hand-written
    one's, by layout."""
    return {"root": median(results["root"], what) / median(results["hand"], what),
            "per-project": median(results["per-project"], what) / median(results["hand"], what),
            "peach": median(results["peach"], what) / median(results["hand-peach"], what)}


def paired(results: dict[str, list[dict[str, float]]], ours: str, hand: str) -> str:
    """The ratio of each round's two measurements (taken one after the other), to show the spread."""
    return ", ".join(f"{o['seconds'] / h['seconds']:.2f}" for o, h in zip(results[ours], results[hand], strict=True))


def write_report(args: argparse.Namespace, cold: dict[str, float], results: dict[str, list[dict[str, float]]]) -> str:
    fmt = lambda rs: ", ".join(f"{r['seconds']:.2f}" for r in rs)
    hand = results["hand"]
    ratio, cpu = ratios(results), ratios(results, "cpu")
    rows = [
        ("hand-written Python, AME + PEACH (one operator per step / notebook task)", "hand"),
        ("taskspec, AME + PEACH, one loader at the root, compile cache warm", "root"),
        ("taskspec, AME + PEACH, one loader per AME project + one for PEACH, cache warm", "per-project"),
        ("hand-written Python, PEACH only", "hand-peach"),
        ("taskspec, PEACH only, one loader at the root, cache warm", "peach"),
        ("taskspec, one AME DAG (task run: parsing context names it)", "one"),
        ("taskspec, one PEACH loop DAG (task run)", "one-peach"),
    ]
    table = "\n".join(f"| {what} | {results[side][0]['dags']} | {results[side][0]['tasks']} | {median(results[side]):.2f} "
                      f"| {median(results[side], 'cpu'):.2f} | {fmt(results[side])} |" for what, side in rows)
    peach_tasks = args.organisations * args.peach_tasks
    return textwrap.dedent(f"""\
        ## {TITLE}

        Command: `make bench` (runs `.venv/bin/python bench/run.py --projects {args.projects} --tasks {args.tasks} --steps {args.steps} --organisations {args.organisations} --peach-tasks {args.peach_tasks} --repeat {args.repeat}`)

        Folder: {args.projects} AME projects x {args.tasks} pipeline tasks of {args.steps} steps ({args.projects * args.tasks} DAGs), and {args.organisations} PEACH projects, one organisation each, half in each generation (legacy `peach.yaml`; current `peach.conf/` with a subfolder), {args.peach_tasks} notebook tasks each ({peach_tasks} in all, {peach_projects.METADATA_TASKS} per organisation in the metadata loop), on two real notebooks per project, with nested `args` of every YAML type: {args.organisations} `peach.<codops>` loops and `peach.metadata`. taskspec builds one Airflow task per step or notebook task, plus one run teardown per DAG and a `loop_result` per PEACH loop. The hand-written side is what a user writes without taskspec: per AME project a Python file with one BashOperator per step (same command and environment), chained; per organisation a Python file (and one for the metadata loop) with `@continuous`, `max_active_runs=1`, the same typed params (`<task>.<arg>`, nullable as taskspec's are, so the trigger form marks none required), and one PythonOperator per notebook task (notebook, method, args from the params), each after the previous one whatever its outcome, with the same timeouts. taskspec is measured in two layouts: one loader file at the DAG folder's root, and one loader file in each AME project folder plus one above the PEACH projects (which merge by codops). PEACH is also measured alone. Each figure is one fresh process importing Airflow and then timing `DagBag(folder)` alone; the sides alternate in one run. Bytecode is compiled first (`make bench` runs `compileall`), as `pip install` does. Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; shared with other sessions' test runs while this ran, so the seconds are noisy: quote the ratios, whose two sides were measured one after the other.

        | what | DAGs | tasks | wall s (median of {args.repeat}) | CPU s (median) | wall s, runs in order |
        |---|---|---|---|---|---|
        @@TABLE@@
        | taskspec, AME + PEACH, root loader, first parse (cache empty) | {cold['dags']} | {cold['tasks']} | {cold['seconds']:.2f} | {cold['cpu']:.2f} | 1 run |

        **Ratio taskspec / hand-written (warm cache), AME + PEACH: {ratio["root"]:.2f}x with one root loader, {ratio["per-project"]:.2f}x with a loader per project; PEACH alone: {ratio["peach"]:.2f}x** (target: at most {TARGET_RATIO}x). In CPU time, which other processes on the machine disturb less: {cpu["root"]:.2f}x, {cpu["per-project"]:.2f}x, PEACH alone {cpu["peach"]:.2f}x. Wall-clock ratio per round: root {paired(results, "root", "hand")}; per project {paired(results, "per-project", "hand")}; PEACH alone {paired(results, "peach", "hand-peach")}. First parse (AME + PEACH): {cold['seconds'] / median(hand):.2f}x.

        What gets there:
        - libyaml's C composer for the YAML (the loader keeps text scalars and line/column marks on top of it).
        - Compiled files are cached on disk by content hash (`TASKSPEC_COMPILE_CACHE_DIR`, default $AIRFLOW_HOME/taskspec/cache),
          across processes: a warm parse unpickles the IR instead of running YAML + pydantic + normalisation
          (and, for PEACH, reading the notebooks with nbformat). An entry is reused only while the file, the
          other projects it uses (templates, data sets, the other files of its codops) and the project files it
          checked (executor files, notebooks) are unchanged.
        - One operator per step whose constructor only stores its plan: the phases are built when the step runs.
        - When Airflow runs a task, only the DAG being run is compiled and built (`only_dag_id`).
        """).replace("@@TABLE@@", table)


if __name__ == "__main__":
    sys.exit(main())
