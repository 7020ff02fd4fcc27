"""The `taskspec` command: validate, list, render, gc and schema."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import ir, resolve
from .dialects import REGISTRY
from .errors import Severity


def _validate(args: argparse.Namespace) -> int:
    from .checks import check

    # The loader's own check: compile, then build every DAG with the backend (`--backend` to check another).
    checked = check(args.paths, backend_name=args.backend)
    errors = sorted((d for found in checked.errors.values() for d in found), key=lambda d: (d.file, d.line, d.column))
    for diagnostic in sorted(checked.warnings, key=lambda d: (d.file, d.line, d.column)):
        print(diagnostic.format(), flush=True)  # before the errors, on stderr, even through one pipe
    for diagnostic in errors:
        print(diagnostic.format(), file=sys.stderr)
    broken = len(checked.errors)
    print(f"{checked.compiled} DAG(s) compiled, {broken} file(s) with errors", file=sys.stderr)
    return 1 if broken else 0


def _list(args: argparse.Namespace) -> int:
    compilation = resolve.compile_paths(args.paths)
    for wf in compilation.workflows:
        print(f"{wf.dag_id}\t{_schedule_text(wf.schedule)}\t{wf.source_file}")
    _report_errors(compilation)
    return 1 if compilation.errors else 0


def _report_errors(compilation: resolve.Compilation) -> None:
    """On stderr: which files failed and why (the DAGs of the other files are still listed or rendered)."""
    for diagnostic in compilation.diagnostics():
        if diagnostic.severity is Severity.ERROR:
            print(diagnostic.format(), file=sys.stderr)
    if compilation.errors:
        print(f"{len(compilation.errors)} file(s) with errors: {', '.join(sorted(compilation.errors))}",
              file=sys.stderr)


def _schedule_text(schedule: ir.Schedule) -> str:
    if isinstance(schedule, ir.OnAssets):
        return " | ".join(schedule.uris)
    return ir.schedule_expression(schedule) or ""


def _render(args: argparse.Namespace) -> int:
    import contextlib

    from .config import settings

    # Only manifests on stdout, and no operator log lines: Airflow's and our loggers stay quiet while building.
    with contextlib.redirect_stdout(sys.stderr):
        from .render import render_manifests

        _quiet_logs()  # after the imports: importing Airflow configures its logging

        cfg = settings()
        compilation = resolve.compile_paths(args.paths)
        _report_errors(compilation)
        if cfg.artifact_store.startswith("file://"):
            print(f"taskspec render: warning: the artifact store {cfg.artifact_store} is a folder on this machine; "
                  "pods reach it only as a hostPath on a one-node cluster. Set [taskspec] artifact_store to an "
                  "object store (s3://..., gs://...) for a real cluster", file=sys.stderr)
        docs, failed = [], 0
        for workflow in compilation.workflows:
            try:
                docs.append(render_manifests([workflow], cfg))
            except Exception as exc:  # noqa: BLE001 -- this DAG cannot become pods as configured: say why, render the others
                failed += 1
                o = workflow.origin
                print(f"{o.file}:{o.line}:{o.column}: error: DAG {workflow.dag_id} cannot be rendered: "
                      f"{_one_line(exc)}", file=sys.stderr)
    sys.stdout.write("---\n".join(d for d in docs if d))
    return 1 if compilation.errors or failed else 0


def _quiet_logs() -> None:
    """Warnings and errors only: building operators logs a line per pod ("Building pod ..."), which is noise for
    a command whose output is manifests. Airflow's operators log through structlog, the rest through logging."""
    import logging

    logging.disable(logging.INFO)
    try:
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    except ImportError:  # structlog comes with Airflow; without it there is nothing to quiet
        pass


def _gc(args: argparse.Namespace) -> int:
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        from .backends.k8s_gc import collect_garbage, parse_duration
        from .config import settings

        try:
            older_than = parse_duration(args.older_than)
        except ValueError as exc:
            print(f"taskspec gc: {exc}", file=sys.stderr)
            return 2
        cfg = settings()
        namespace = args.namespace or cfg.namespace
        core = KubernetesHook(conn_id=cfg.kubernetes_conn_id).core_v1_client
        gone = collect_garbage(core, namespace, older_than, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for item in gone:
        print(f"{verb} {item.kind} {namespace}/{item.name} (age {item.age})")
    print(f"{len(gone)} object(s) older than {args.older_than}", file=sys.stderr)
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
    v.add_argument("--backend", choices=["local", "kubernetes"],
                   help="check against this backend (default: [taskspec] backend)")
    v.set_defaults(func=_validate)
    ls = sub.add_parser("list", help="list the DAGs the spec files compile to")
    ls.add_argument("paths", nargs="+")
    ls.set_defaults(func=_list)
    r = sub.add_parser("render", help="print the Kubernetes manifests each task would create")
    r.add_argument("paths", nargs="+")
    r.set_defaults(func=_render)
    g = sub.add_parser("gc", help="delete taskspec pods and PVCs older than a given age (found by label)")
    g.add_argument("--older-than", required=True, help="age such as 30m, 6h or 2d")
    g.add_argument("--namespace", help="default: [taskspec] namespace")
    g.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    g.set_defaults(func=_gc)
    s = sub.add_parser("schema", help="print the JSON Schema of a dialect")
    s.add_argument("dialect", choices=sorted(REGISTRY))
    s.set_defaults(func=_schema)
    return p


def _missing_paths(args: argparse.Namespace) -> list[str]:
    import os

    return [p for p in getattr(args, "paths", None) or [] if not os.path.exists(p)]


def _folders_without_specs(args: argparse.Namespace) -> list[str]:
    """Folders among the paths holding no spec file that a dialect reads (after .airflowignore); a folder that
    cannot be walked is not one of them: the command reports why."""
    import os

    empty = []
    for path in getattr(args, "paths", None) or []:
        walked = resolve.Compilation()
        if os.path.isdir(path) and not resolve.discover(path, walked) and not walked.errors:
            empty.append(path)
    return empty


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure is one line on stderr and a non-zero exit; TASKSPEC_DEBUG=1 shows tracebacks."""
    import os

    from .config import ConfigError

    args = parser().parse_args(argv)
    missing = _missing_paths(args)
    if missing:
        print(f"taskspec {args.command}: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    empty = _folders_without_specs(args)
    if empty:
        names = sorted({g for d in REGISTRY.values() for p in d.patterns for g in p.globs})
        print(f"taskspec {args.command}: no spec file ({', '.join(names)}) in {', '.join(empty)}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"taskspec {args.command}: bad configuration: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"taskspec {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except Exception as exc:  # no traceback for a user; the one line says what failed
        if os.environ.get("TASKSPEC_DEBUG"):
            raise
        print(f"taskspec {args.command}: {_one_line(exc)} (TASKSPEC_DEBUG=1 shows the traceback)", file=sys.stderr)
    return 2


def _reader_went_away() -> int:
    """`taskspec list dags | head -1`: the reader closed the pipe, which is not an error worth a message.

    stdout is pointed at /dev/null so the interpreter's final flush does not fail again, and the exit status is
    the one a process killed by SIGPIPE has, as `cat` or `git log` give in the same pipe.
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "kube-config" in text or "kube_config" in text or "KUBERNETES_SERVICE_HOST" in text:
        return (f"no Kubernetes configuration found ({text}); set KUBECONFIG or the Airflow connection "
                "named by [taskspec] kubernetes_conn_id")
    return f"{type(exc).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
