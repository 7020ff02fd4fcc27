"""The filer pod's entry point: ``python -m airflow_taskspec.runtime provision|collect --spec JSON``.

The JSON holds the fields of ``phases.ProvisionSpec`` / ``phases.CollectSpec`` (the kubernetes backend puts
it in the pod's command). The result is printed as the last line and, with ``--result-url``, written to the
store for the Airflow worker to read. Standard library and fsspec only: the filer image has no Airflow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import phases, store


def _log(message: str) -> None:
    print(f"taskspec: {message}", flush=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _fail(message: str, code: int) -> int:
    print(f"taskspec: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m airflow_taskspec.runtime", description="Provision or collect a task's workspace."
    )
    p.add_argument("action", choices=["provision", "collect"])
    p.add_argument("--spec", required=True, help="JSON object with the fields of ProvisionSpec / CollectSpec")
    p.add_argument("--result-url", help="also write the JSON result to this store URL")
    args = p.parse_args(argv)
    try:
        fields = json.loads(args.spec)
    except json.JSONDecodeError as exc:
        return _fail(f"--spec is not valid JSON: {exc}", 2)
    try:
        if args.action == "provision":
            spec: Any = phases.ProvisionSpec(**fields)
            result: Any = phases.provision(spec, log=_log)
        else:
            spec = phases.CollectSpec(**fields)
            result = phases.collect(spec, log=_log)
        if args.result_url:
            store.write_bytes(store.locate(args.result_url, spec.store_options), json.dumps(result).encode())
    except TypeError as exc:  # unknown or missing fields: a version mismatch between worker and image
        return _fail(f"bad {args.action} spec ({exc}); is the filer image as new as the provider?", 2)
    except Exception as exc:  # noqa: BLE001 - any other: one line, the last of the pod's log (its termination message)
        return _fail(f"{args.action} failed: {_one_line(exc)}", 1)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
