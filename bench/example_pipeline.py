"""The example pipeline end to end on the local backend, with the time of each phase of each step, against the
same commands hand-written as one BashOperator per step.

    .venv/bin/python bench/example_pipeline.py [--rounds 2] [--out BENCHMARKS.md]

taskspec: `airflow dags test house_prices.train_and_compare` (dags/examples/house_prices: prepare_data, then
train_linear and train_knn, then compare; `!pip` steps, numpy) with the local backend and SQLite. Each step's
log says `taskspec: <phase> done in X s` for workspace, provision, run, collect and cleanup; this script reads
them per step, with each step's and the whole command's wall time.

Hand-written: `airflow dags test handwritten.train_and_compare`, a DAG of four chained/parallel BashOperators that
do by hand what the steps do: a fresh workspace with a copy of the project, the earlier steps' outputs copied in,
the same command in a prepared virtualenv with the same requirements, the outputs copied to a store folder, the
workspace removed. Both virtualenvs are built before the first counted round (one warm-up run per side); the
sides alternate, their order swapped every round. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section

BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "dags" / "examples" / "house_prices"
TITLE = "The example pipeline end to end on the local backend, phase by phase"
DAG_IDS = {"taskspec": "house_prices.train_and_compare", "hand-written": "handwritten.train_and_compare"}
STEPS = ("prepare_data", "train_linear", "train_knn", "compare")
PHASES = ("workspace", "provision", "run", "collect", "cleanup")

HAND_WRITTEN = '''\
"""The example pipeline written by hand: per step one BashOperator that makes a workspace, copies the project
and the earlier steps' outputs in, runs the command in a prepared virtualenv, saves its outputs, removes the
workspace."""
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

PROJECT = {project!r}
PYTHON = {python!r}
WORK = {work!r}
STORE = {store!r}


RUN = "{{{{ run_id | replace(':', '-') }}}}"  # Jinja: this run's folder


def step(name, command, inputs=(), outputs=(), env=None):
    ws, saved = f"{{WORK}}/{{RUN}}/{{name}}", f"{{STORE}}/{{RUN}}/{{name}}"
    script = [f"rm -rf '{{ws}}'", f"mkdir -p '{{ws}}'", f"cp -r '{{PROJECT}}'/. '{{ws}}'/"]
    script += [f"cp -r '{{STORE}}/{{RUN}}/{{before}}'/. '{{ws}}'/" for before in inputs]
    script += [f"cd '{{ws}}'", f"{{PYTHON}} {{command}}", f"mkdir -p '{{saved}}'"]
    script += [f"cp -r {{path}} '{{saved}}'/" for path in outputs]
    script += ["cd /", f"rm -rf '{{ws}}'"]
    return BashOperator(task_id=name, bash_command=" && ".join(script), env=env, append_env=True)


with DAG(dag_id="handwritten.train_and_compare", schedule=None, catchup=False) as dag:
    prepare = step("prepare_data", "prepare_data.py", outputs=["prepared"])
    linear = step("train_linear", "train.py linear", inputs=["prepare_data"], outputs=["models"],
                  env={{"RIDGE_ALPHA": "0.5"}})
    knn = step("train_knn", "train.py knn", inputs=["prepare_data"], outputs=["models"], env={{"KNN_NEIGHBOURS": "7"}})
    compare = step("compare", "compare.py", inputs=["train_linear", "train_knn"], outputs=["reports", "models"])
    prepare >> [linear, knn] >> compare
'''

_STEP_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
_STEP_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
_PHASE = re.compile(r"taskspec: (\w+) (?:done|failed) in ([0-9.]+) s")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def _stamp(line: str) -> float | None:
    import datetime as dt

    m = _STAMP.match(line)
    return dt.datetime.fromisoformat(m.group(1)).timestamp() if m else None


def read_log(output: str) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per step: phase -> seconds (from the step's own lines); and each step's wall time in `dags test`."""
    phases: dict[str, dict[str, float]] = defaultdict(dict)
    walls: dict[str, float] = {}
    current, started = None, 0.0
    for line in output.splitlines():
        if m := _STEP_START.search(line):
            current, started = m.group(1), _stamp(line) or 0.0
        elif (m := _STEP_END.search(line)) and current is not None:
            walls[current] = (_stamp(line) or started) - started
            current = None
        elif (m := _PHASE.search(line)) and current is not None:
            phases[current][m.group(1)] = float(m.group(2))
    return dict(phases), walls


def hand_python(cache: Path) -> str:
    """A virtualenv with the example's requirements, built once with uv (as a user would prepare a worker)."""
    venv = cache / "handwritten-house-prices"
    python = venv / "bin" / "python"
    if not python.exists():
        uv = shutil.which("uv") or str(BIN / "uv")
        subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), "-r",
                        str(EXAMPLE / "requirements.txt")], check=True)
    return str(python)


def dags_test(dag_id: str, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "airflow"), "dags", "test", dag_id], env=env, capture_output=True, text=True,
                          timeout=1800, check=False)
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or "DagRun Finished" not in output:
        raise SystemExit(f"{dag_id} failed (exit {proc.returncode}):\n{output[-4000:]}")
    return seconds, output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds (after one warm-up run per side)")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()

    cache = ROOT / ".cache" / "bench-envs"  # outlives the run: the environments are built once per checkout
    base = Path(tempfile.mkdtemp(prefix="taskspec-example-"))
    try:
        dags = base / "dags"
        dags.mkdir()
        shutil.copytree(EXAMPLE, dags / "house_prices")
        shutil.copy(ROOT / "dags" / "taskspec_dags.py", dags / "taskspec_dags.py")
        (dags / "handwritten_dags.py").write_text(HAND_WRITTEN.format(
            project=str(dags / "house_prices"), python=hand_python(cache), work=str(base / "hand-ws"),
            store=str(base / "hand-store")))
        env = dict(os.environ, AIRFLOW_HOME=str(base / "home"), AIRFLOW__CORE__DAGS_FOLDER=str(dags),
                   AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__TASKSPEC__BACKEND="local",
                   AIRFLOW__TASKSPEC__WORKSPACE_ROOT=str(base / "ws"),
                   AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{base}/store",
                   AIRFLOW__TASKSPEC__ENV_CACHE_DIR=str(cache), TASKSPEC_COMPILE_CACHE_DIR=str(base / "cache"))
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
        totals: dict[str, list[float]] = {side: [] for side in DAG_IDS}
        step_walls: dict[str, dict[str, list[float]]] = {side: defaultdict(list) for side in DAG_IDS}
        phase_times: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for rnd in range(args.rounds + 1):
            order = list(DAG_IDS) if rnd % 2 == 0 else list(reversed(DAG_IDS))
            for side in order:
                seconds, output = dags_test(DAG_IDS[side], env)
                phases, walls = read_log(output)
                print(f"round {rnd} {side:12} {seconds:6.1f} s  steps: "
                      + ", ".join(f"{s} {walls.get(s, 0):.1f}" for s in STEPS), flush=True)
                if rnd == 0:  # warm-up: first environment build, first imports
                    continue
                totals[side].append(seconds)
                for s in STEPS:
                    step_walls[side][s].append(walls[s])
                if side == "taskspec":
                    missing = [(s, p) for s in STEPS for p in PHASES if p not in phases.get(s, {})]
                    if missing:
                        raise SystemExit(f"no phase line for {missing} in the taskspec log")
                    for s in STEPS:
                        for p in PHASES:
                            phase_times[s][p].append(phases[s][p])
        body = report(args, totals, step_walls, phase_times)
        write_section(Path(args.out), TITLE, body)
        print(body)
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def report(args: argparse.Namespace, totals: dict[str, list[float]], step_walls: dict[str, dict[str, list[float]]],
           phase_times: dict[str, dict[str, list[float]]]) -> str:
    med = statistics.median
    rows = []
    for s in STEPS:
        cells = " | ".join(f"{med(phase_times[s][p]):.2f}" for p in PHASES)
        in_phases = sum(med(phase_times[s][p]) for p in PHASES)
        rows.append(f"| {s} | {cells} | {in_phases:.2f} | {med(step_walls['taskspec'][s]):.2f} "
                    f"| {med(step_walls['hand-written'][s]):.2f} |")
    fmt = lambda xs: ", ".join(f"{x:.1f}" for x in xs)
    ours, hand = totals["taskspec"], totals["hand-written"]
    pairs = ", ".join(f"{o / h:.2f}" for o, h in zip(ours, hand, strict=True))
    return textwrap.dedent(f"""\
        ## {TITLE}

        Command: `make bench` (runs `.venv/bin/python bench/example_pipeline.py --rounds {args.rounds}`)

        `airflow dags test house_prices.train_and_compare` (the example in `dags/examples/house_prices`: prepare_data, then train_linear and train_knn, then compare; `!pip` steps with numpy), local backend, SQLite, against `airflow dags test` of the same four commands hand-written as one BashOperator each (workspace made, project and earlier outputs copied in, the command run in a prepared virtualenv with the same requirements, outputs copied out, workspace removed). One warm-up run per side (it builds both environments once), then {args.rounds} counted rounds, the sides alternating. Phase times are the steps' own `taskspec: <phase> done in X s` log lines; a step's wall time is from Airflow's `[DAG TEST] starting` to `end task` lines (it includes starting the task; the first step's also includes the start of the in-process API server that `airflow dags test` runs its first task through, on both sides); the total is the whole `airflow dags test` command (Airflow's start-up, parse and database included). Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, shared with other sessions' test runs while this ran: the seconds are noisy.

        | step | workspace | provision | run | collect | cleanup | in phases | step wall, taskspec | step wall, hand-written |
        |---|---|---|---|---|---|---|---|---|
        """) + "\n".join(rows) + textwrap.dedent(f"""

        (seconds, medians of {args.rounds} runs)

        | whole command | seconds (median) | runs |
        |---|---|---|
        | taskspec | {med(ours):.1f} | {fmt(ours)} |
        | hand-written BashOperators | {med(hand):.1f} | {fmt(hand)} |

        **Ratio taskspec / hand-written, whole `airflow dags test`: {med(ours) / med(hand):.2f}x** (per round {pairs}). The hand-written DAG has no run teardown task and saves its outputs with `cp`, without manifests or checksums.
        """)


if __name__ == "__main__":
    sys.exit(main())
