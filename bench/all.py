"""`make bench`: every benchmark in turn, each writing its section of BENCHMARKS.md, with how long each took.

    .venv/bin/python bench/all.py [--only NAME ...]

A benchmark that fails (or misses its target) does not stop the others; the exit status is non-zero when any
did, and the summary says which.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = {
    "parse": ["run.py"],
    "example": ["example_pipeline.py"],
    "step-overhead": ["step_overhead.py"],
    "data-plane": ["data_plane.py"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(PARTS), default=list(PARTS))
    args = parser.parse_args()
    took: list[tuple[str, float, int]] = []
    started = time.perf_counter()
    for name in args.only:
        print(f"== bench {name}: {' '.join(PARTS[name])}", flush=True)
        start = time.perf_counter()
        code = subprocess.run([sys.executable, str(HERE / PARTS[name][0]), *PARTS[name][1:]], check=False).returncode
        took.append((name, time.perf_counter() - start, code))
        print(f"== bench {name}: {took[-1][1]:.0f} s, exit {code}", flush=True)
    print("\n== make bench, time per part:")
    for name, seconds, code in took:
        print(f"  {name:14} {seconds:6.0f} s  {'ok' if code == 0 else f'FAILED (exit {code})'}")
    print(f"  {'total':14} {time.perf_counter() - started:6.0f} s")
    return 0 if all(code == 0 for _, _, code in took) else 1


if __name__ == "__main__":
    sys.exit(main())
