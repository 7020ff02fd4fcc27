"""The `taskspec` command: validate, list, render and schema."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from . import resolve
from .errors import Severity


def _validate(args: argparse.Namespace) -> int:
    compilation = resolve.compile_paths(args.paths)
    for diagnostic in compilation.diagnostics():
        print(diagnostic.format(), file=sys.stderr if diagnostic.severity is Severity.ERROR else sys.stdout)
    broken = len(compilation.errors)
    print(f"{len(compilation.workflows)} DAG(s) compiled, {broken} file(s) with errors", file=sys.stderr)
    return 1 if broken else 0


def _list(args: argparse.Namespace) -> int:
    compilation = resolve.compile_paths(args.paths)
    for wf in compilation.workflows:
        print(f"{wf.dag_id}\t{wf.schedule or ''}\t{wf.source_file}")
    return 1 if compilation.errors else 0


def _render(args: argparse.Namespace) -> int:
    from .backends.kubernetes import render_manifests

    compilation = resolve.compile_paths(args.paths)
    if compilation.errors:
        for diagnostic in compilation.diagnostics():
            print(diagnostic.format(), file=sys.stderr)
        return 1
    sys.stdout.write(render_manifests(compilation.workflows))
    return 0


def _schema(args: argparse.Namespace) -> int:
    from .schema import json_schema

    print(json.dumps(json_schema(args.dialect), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="taskspec", description="Compile AME/PEACH task files into Airflow DAGs.")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check spec files; exit 1 on errors")
    v.add_argument("paths", nargs="+", help="spec files or folders")
    v.set_defaults(func=_validate)
    ls = sub.add_parser("list", help="list the DAGs the spec files compile to")
    ls.add_argument("paths", nargs="+")
    ls.set_defaults(func=_list)
    r = sub.add_parser("render", help="print the Kubernetes manifests each task would create")
    r.add_argument("paths", nargs="+")
    r.set_defaults(func=_render)
    s = sub.add_parser("schema", help="print the JSON Schema of a dialect")
    s.add_argument("dialect", choices=["ame"])
    s.set_defaults(func=_schema)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
