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
        print(f"taskspec: --spec is not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "provision":
            spec: Any = phases.ProvisionSpec(**fields)
            result: Any = phases.provision(spec, log=_log)
        else:
            spec = phases.CollectSpec(**fields)
            result = phases.collect(spec, log=_log)
    except TypeError as exc:  # unknown or missing fields: a version mismatch between worker and image
        print(
            f"taskspec: bad {args.action} spec ({exc}); is the filer image as new as the provider?",
            file=sys.stderr,
        )
        return 2
    if args.result_url:
        store.write_bytes(store.locate(args.result_url, spec.store_options), json.dumps(result).encode())
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
