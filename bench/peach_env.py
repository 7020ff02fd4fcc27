"""PEACH on the local backend: one task's first loop iteration (environment built) against the second (reused).

    .venv/bin/python bench/peach_env.py [--repeat 3]

Each round uses a fresh environment cache, then runs the example task `rank_headlines` twice the way the
local backend does: ensure the organisation's environment, then run the notebook entry point in it. uv's own
download cache stays warm between rounds (as on a worker), so the first iteration measures creating and
installing the environment, not downloading.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "provider"))

from airflow_taskspec.backends.local import _uv_binary
from airflow_taskspec.runtime import environments, notebook

PROJECT = REPO / "dags" / "examples" / "peach_demo" / "newsroom"
REQUIREMENTS = ["orjson==3.10.18", "python-dateutil==2.9.0.post0"]  # a light organisation environment


def iteration(cache: str, workspace: Path) -> tuple[float, bool, object]:
    start = time.perf_counter()
    env = environments.ensure(REQUIREMENTS, cache_dir=cache, python_version="3.11", uv=_uv_binary(),
                              name="zzebu", log=lambda _: None)
    name = "notebooks/headlines.ipynb"
    prog = notebook.program(str(workspace / name), name=name, method="rank_headlines", full_notebook=False,
                            args={"source": "data/articles.json", "top": 2, "weights": {"storm": 2}})
    outcome = notebook.run(prog, python=env.python, workspace=str(workspace), log=lambda _: None)
    assert outcome.ok, outcome.error
    return time.perf_counter() - start, env.built, outcome.result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    firsts, seconds = [], []
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="peach-bench-"))
        try:
            workspace = root / "ws"
            shutil.copytree(PROJECT, workspace)
            first, built_first, _ = iteration(str(root / "envs"), workspace)
            second, built_second, _ = iteration(str(root / "envs"), workspace)
            assert built_first and not built_second, "the second iteration must reuse the environment"
            firsts.append(first)
            seconds.append(second)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print("| iteration | seconds (median) | runs |\n|---|---|---|")
    print(f"| first (environment built) | {statistics.median(firsts):.2f} | {', '.join(f'{t:.2f}' for t in firsts)} |")
    print(f"| second (environment reused, nothing installed) | {statistics.median(seconds):.2f} | "
          f"{', '.join(f'{t:.2f}' for t in seconds)} |")


if __name__ == "__main__":
    main()
