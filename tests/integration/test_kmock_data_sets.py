"""Data sets by reference on the kubernetes backend against the fake API server (kmock): with
``[taskspec] data_set_volume_claim`` the consumer's executor pod mounts the store's shared volume read-only and
its provision pod links the data-set path into it (replaying the provision pod's own command copies no
data-set file); without the option the provision pod copies, as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow_taskspec.runtime import datasets, store
from kmock_server import FakeCluster

from tests.conftest import GATES, make_dag_folder
from tests.integration.airflow_cli import dags_test

pytestmark = pytest.mark.integration

PHASE = "taskspec.io/phase"


def _published(tmp_path: Path) -> str:
    """A committed version of gates/numbers in a file:// store, as its producer's collect leaves it."""
    producer = tmp_path / "producer"
    (producer / "data" / "numbers").mkdir(parents=True)
    (producer / "data" / "numbers" / "n.txt").write_text("1\n2\n3\n4\n5\n")
    version, _ = datasets.publish_version(str(producer), "data/numbers",
                                          store.locate(f"file://{tmp_path}/store/datasets/gates/numbers"), keep=3)
    return version.name


def _run(tmp_path: Path, airflow_db: Path, **options: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    folder = make_dag_folder(tmp_path / "dags", {"gates": GATES})
    with FakeCluster() as cluster:
        result = dags_test("gates.sum_numbers", folder, airflow_db, KUBECONFIG=cluster.kubeconfig,
                           AIRFLOW__TASKSPEC__BACKEND="kubernetes",
                           AIRFLOW__TASKSPEC__ARTIFACT_STORE=f"file://{tmp_path}/store",
                           AIRFLOW__TASKSPEC__POD_POLL_INTERVAL="0.2", **options)
        pods = {p["metadata"]["labels"][PHASE]: p for p in cluster.created("pods")}
        assert cluster.live_objects("pods") == [] and cluster.live_objects("persistentvolumeclaims") == []
    assert result.returncode == 0, result.output[-5000:]
    assert sorted(pods) == ["collect", "provision", "run"]
    return result, pods


def _replay_provision(pod: dict[str, Any], workspace: Path, mount: Path | None) -> dict[str, Any]:
    """The provision pod's command, run here: the workspace (and the volume's mount path) as local folders."""
    command = list(pod["spec"]["containers"][0]["command"])
    at = command.index("--spec") + 1
    spec = {**json.loads(command[at]), "workspace": str(workspace)}
    if mount is not None:
        spec["data_sets_mounted"] = {**spec["data_sets_mounted"], "path": str(mount)}
    command[at] = json.dumps(spec)
    done = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return spec


def _data_set_mounts(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in pod["spec"]["containers"][0].get("volumeMounts") or [] if m["name"] == "data-sets"]


def test_with_a_shared_volume_the_executor_mounts_it_read_only_and_provision_copies_nothing(
    airflow_db: Path, tmp_path: Path
) -> None:
    version = _published(tmp_path)
    _, pods = _run(tmp_path, airflow_db, AIRFLOW__TASKSPEC__DATA_SET_VOLUME_CLAIM="taskspec-store",
                   AIRFLOW__TASKSPEC__DATA_SET_VOLUME_PATH="store")
    assert _data_set_mounts(pods["run"]) == [{"name": "data-sets", "mountPath": "/taskspec/store",
                                              "readOnly": True, "subPath": "store"}]
    assert {"name": "data-sets", "persistentVolumeClaim": {"claimName": "taskspec-store", "readOnly": True}} in \
        pods["run"]["spec"]["volumes"]
    assert _data_set_mounts(pods["provision"]) == []
    # The volume as the executor would see it: a folder holding what the store holds.
    mount = tmp_path / "mounted-volume"
    mount.symlink_to(tmp_path / "store", target_is_directory=True)
    workspace = tmp_path / "replayed"
    spec = _replay_provision(pods["provision"], workspace, mount)
    assert spec["data_sets_mounted"]["store"] == f"file://{tmp_path}/store"
    link = workspace / "data" / "numbers"
    assert os.readlink(link) == f"{mount}/datasets/gates/numbers/{version}/files"  # a link, not a copy
    assert (link / "n.txt").read_text() == "1\n2\n3\n4\n5\n"


def test_without_the_option_the_provision_pod_copies_the_data_set(airflow_db: Path, tmp_path: Path) -> None:
    _published(tmp_path)
    _, pods = _run(tmp_path, airflow_db)
    assert all(_data_set_mounts(pod) == [] for pod in pods.values())
    workspace = tmp_path / "replayed"
    spec = _replay_provision(pods["provision"], workspace, None)
    assert "data_sets_mounted" not in spec
    copied = workspace / "data" / "numbers" / "n.txt"
    assert not os.path.islink(workspace / "data" / "numbers") and not os.path.islink(copied)
    assert copied.read_text() == "1\n2\n3\n4\n5\n"
