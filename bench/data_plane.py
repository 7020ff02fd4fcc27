"""Data-plane benchmark: staging a data set into a workspace by reference against by copy, in one run.

    .venv/bin/python bench/data_plane.py [--files 10000] [--size 4096] [--repeat 5] [--out BENCHMARKS.md]

Publishes one data set of ``files`` files of ``size`` bytes as a version in a file:// store (what a producer's
collect does), then provisions a fresh consumer workspace from it alternately by reference (one read-only
symlink) and by copy (every file streamed and checked against its sha256), ``repeat`` times each. Each
figure is ``phases.provision`` as the local backend runs it, including the workspace manifest. The section
"Data sets: staging by reference vs by copy" of BENCHMARKS.md is replaced with the result.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "provider"))

from airflow_taskspec.runtime import datasets, phases, store

TITLE = "## Data sets: staging by reference vs by copy"


def make_data_set(root: Path, files: int, size: int) -> None:
    payload = os.urandom(size)
    for i in range(files):
        folder = root / f"shard{i % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"item{i:06d}.bin").write_bytes(i.to_bytes(8, "big") + payload[8:])


def stage_once(store_url: str, work: Path, by_reference: bool) -> tuple[float, dict[str, object]]:
    ws = work / "consumer"
    if ws.exists():
        shutil.rmtree(ws)
    spec = phases.ProvisionSpec(workspace=str(ws), data_sets_by_reference=by_reference,
                                data_sets=[{"url": store_url, "path": "data"}])
    started = time.perf_counter()
    result = phases.provision(spec, log=lambda *_: None)
    return time.perf_counter() - started, result


def section(args: argparse.Namespace, linked: list[float], copied: list[float], publish_s: float) -> str:
    ratio = statistics.median(copied) / statistics.median(linked)
    mib = args.files * args.size / (1 << 20)
    return "\n".join([
        TITLE,
        "",
        (f"Command: `make bench` (runs `.venv/bin/python bench/data_plane.py --files {args.files} --size {args.size} "
         f"--repeat {args.repeat}`)"),
        "",
        (f"One data set of {args.files} files of {args.size} bytes ({mib:.0f} MiB) published as a version in a file:// "
         "store, then staged into a fresh workspace by `phases.provision` (as the local backend runs it, with the "
         "workspace manifest), alternately by reference (one read-only symlink) and by copy (each file streamed "
         f"and checked against its sha256). Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
         f"{platform.python_version()}."),
        "",
        f"| what | seconds (median of {args.repeat}) | runs |",
        "|---|---|---|",
        f"| by reference (symlink) | {statistics.median(linked):.4f} | {', '.join(f'{t:.4f}' for t in linked)} |",
        (f"| by copy (streamed, sha256 checked) | {statistics.median(copied):.3f} | "
         f"{', '.join(f'{t:.3f}' for t in copied)} |"),
        f"| publishing the version (once) | {publish_s:.3f} | 1 run |",
        "",
        (f"**Ratio copy / reference: {ratio:.0f}x.** Staging by reference does not read the data set, so its time "
         "does not grow with the data set's size."),
        "",
    ])


def write_section(out: Path, text: str) -> None:
    current = out.read_text() if out.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(TITLE) + r"\n.*?(?=\n## |\Z)", re.DOTALL)
    updated = pattern.sub(lambda _: text.rstrip("\n"), current) if pattern.search(current) else (
        current.rstrip("\n") + "\n\n" + text)
    out.write_text(updated.rstrip("\n") + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskspec-bench-") as tmp:
        work = Path(tmp)
        make_data_set(work / "producer" / "data", args.files, args.size)
        store_url = f"file://{work}/store/datasets/bench/ds"
        started = time.perf_counter()
        datasets.publish_version(str(work / "producer"), "data", store.locate(store_url), keep=1)
        publish_s = time.perf_counter() - started
        linked: list[float] = []
        copied: list[float] = []
        for _ in range(args.repeat):
            seconds, result = stage_once(store_url, work, by_reference=True)
            assert result["data_sets"][0]["linked"] is True and result["data_sets"][0]["files"] == args.files
            linked.append(seconds)
            seconds, result = stage_once(store_url, work, by_reference=False)
            assert result["data_sets"][0]["linked"] is False and result["data_sets"][0]["files"] == args.files
            copied.append(seconds)
        store.make_writable(str(work / "store"))
    text = section(args, linked, copied, publish_s)
    print(text)
    write_section(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
