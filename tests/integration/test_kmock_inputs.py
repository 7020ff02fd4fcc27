"""Typed inputs on the kubernetes backend against the fake API server (kmock), through `airflow dags test
--conf`: what the provision pod receives (its spec: each input's type and this run's value), what the run pod
gets (``INPUT_<NAME>`` variables), that replaying the provision pod's own command stages the values as
``inputs/<name>`` in a workspace, and that an invalid value is rejected before any pod or PVC is created."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kmock_server import FakeCluster

from tests.conftest import make_dag_folder
from tests.integration.airflow_cli import dags_test

pytestmark = pytest.mark.integration

PROJECT = """\
name: typed
tasks:
  - name: segment
    executor: !custom
      command: cat inputs/*
    inputs:
      - name: tiles
        type: integer
        default: 4
        minimum: 1
        maximum: 16
      - name: label
        type: string
        default: plain
      - name: verbose
        type: boolean
        default: false
      - name: mode
        type: enumeration
        values: [fast, accurate]
        default: fast
      - name: sizes
        type: array
        items: integer
        default: [1, 2]
      - name: mask
        type: file
        default: none
"""
CONF = {"tiles": 9, "label": "two words", "verbose": True, "mode": "accurate", "sizes": [3, 4, 5],
        "mask": "P1\n2 1\n0 1\n"}
PHASE = "taskspec.io/phase"


def _run(cluster: FakeCluster, tmp_path: Path, airflow_db: Path, conf: dict[str, Any]) -> Any:
    folder = make_dag_folder(tmp_path / "dags", {"typed": PROJECT})
    return dags_test("typed.segment", folder, airflow_db, conf=json.dumps(conf),
                     KUBECONFIG=cluster.kubeconfig,
                     AIRFLOW__TASKSPEC__BACKEND="kubernetes",
                     AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{tmp_path}/store",
                     AIRFLOW__TASKSPEC__POD_POLL_INTERVAL="0.2")


def _pod(cluster: FakeCluster, phase: str) -> dict[str, Any]:
    (pod,) = [p for p in cluster.created("pods") if p["metadata"]["labels"][PHASE] == phase]
    return pod


def _spec(command: list[str]) -> dict[str, Any]:
    return dict(json.loads(command[command.index("--spec") + 1]))


def test_the_provision_pod_receives_the_runs_typed_values_and_stages_them_as_input_files(
    airflow_db: Path, tmp_path: Path
) -> None:
    with FakeCluster() as cluster:
        result = _run(cluster, tmp_path, airflow_db, CONF)
        assert result.returncode == 0, result.output[-5000:]
        provision, run = _pod(cluster, "provision"), _pod(cluster, "run")
        assert cluster.live_objects("pods") == [] and cluster.live_objects("persistentvolumeclaims") == []
    command = provision["spec"]["containers"][0]["command"]
    assert command[:4] == ["python", "-m", "airflow_taskspec.runtime", "provision"]
    spec = _spec(command)
    assert spec["inputs"] == [
        {"name": "tiles", "type": "integer", "value": 9},
        {"name": "label", "type": "string", "value": "two words"},
        {"name": "verbose", "type": "boolean", "value": True},
        {"name": "mode", "type": "enumeration", "value": "accurate"},
        {"name": "sizes", "type": "array", "value": [3, 4, 5]},
        {"name": "mask", "type": "file", "value": "P1\n2 1\n0 1\n"},
    ]
    env = {e["name"]: e.get("value") for e in run["spec"]["containers"][0]["env"]}
    assert {k: v for k, v in env.items() if k.startswith("INPUT_")} == {
        "INPUT_TILES": "9", "INPUT_LABEL": "two words", "INPUT_VERBOSE": "true", "INPUT_MODE": "accurate",
        "INPUT_SIZES": "[3, 4, 5]", "INPUT_MASK": "P1\n2 1\n0 1\n",
    }
    # The provision pod's own command, replayed here with the workspace in a folder: the values land as
    # inputs/<name> (the project too, from the store the worker uploaded it to).
    workspace = tmp_path / "replayed"
    workspace.mkdir()
    command[command.index("--spec") + 1] = json.dumps({**spec, "workspace": str(workspace)})
    replay = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, check=False)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    staged = {p.name: p.read_text() for p in (workspace / "inputs").iterdir()}
    assert staged == {"tiles": "9", "label": "two words", "verbose": "true", "mode": "accurate",
                      "sizes": "[3, 4, 5]", "mask": "P1\n2 1\n0 1\n"}
    assert (workspace / "ame.yaml").read_text() == PROJECT


@pytest.mark.parametrize(("conf", "message"), [
    ({"tiles": 17}, "17 is greater than the maximum of 16"),
    ({"mode": "sloppy"}, "'sloppy' is not one of ['fast', 'accurate']"),
    ({"verbose": "yes"}, "'yes' is not of type 'boolean'"),
], ids=["integer-above-maximum", "enumeration-unknown", "boolean-as-text"])
def test_an_invalid_value_is_rejected_before_any_pod_or_claim_is_created(
    airflow_db: Path, tmp_path: Path, conf: dict[str, Any], message: str
) -> None:
    with FakeCluster() as cluster:
        result = _run(cluster, tmp_path, airflow_db, {**CONF, **conf})
        assert cluster.created("pods") == []
        assert cluster.created("persistentvolumeclaims") == []
    assert result.returncode != 0
    assert message in result.output
