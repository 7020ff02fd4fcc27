"""`taskspec render`: the manifests each step of each DAG would create on Kubernetes: its PVC and the pods its
operator spawns (a phase with nothing to do has none). Above ``build``: it builds the DAGs with the
kubernetes backend and asks each step's operator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from . import build, ir
from .backends.kubernetes import RENDER_RUN_ID, KubernetesBackend, KubernetesStepOperator
from .config import Settings

KINDS = ("pvc", "provision", "run", "collect")


def step_manifests(workflow: ir.Workflow, settings: Settings, run_id: str = RENDER_RUN_ID) -> list[dict[str, Any]]:
    """Per step, in DAG order: {"step", "pvc", and "provision" / "run" / "collect" where the step has that pod}."""
    dag = build.build_dag(workflow, KubernetesBackend(settings))
    return [task.manifests(run_id) for task in dag.tasks if isinstance(task, KubernetesStepOperator)]


def render_manifests(workflows: Sequence[ir.Workflow], settings: Settings | None = None) -> str:
    """Every PVC and pod manifest of every step, as one YAML stream (comments name the DAG, step and kind)."""
    from .config import settings as current

    cfg = settings or current()
    docs: list[str] = []
    for workflow in workflows:
        for entry in step_manifests(workflow, cfg):
            for key in KINDS:
                if key in entry:
                    head = f"# {workflow.dag_id} / {entry['step']}: {key}\n"
                    docs.append(head + yaml.safe_dump(entry[key], sort_keys=False, default_flow_style=False))
    return "---\n".join(docs)
