"""Clearing a failed step through the REST API (what the UI's Clear sends) against a fake Kubernetes API server
(kmock): a real Airflow (`airflow standalone`, kubernetes backend) runs the step again whole, in a fresh
workspace PVC, and it succeeds once the cause is fixed; nothing is left on the server."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from airflow_server import AirflowServer
from kmock_server import FakeCluster

from tests.conftest import REPO

pytestmark = pytest.mark.integration

DAG_ID = "hello.daily_greeting"
STEP = "daily_greeting"


def test_a_cleared_failed_step_gets_a_fresh_pvc_and_all_its_pods_again(tmp_path: Path) -> None:
    fixed = {"yes": False}

    def behaviour(pod: dict[str, Any]) -> str:  # the command fails until the cause is fixed
        is_run = pod["metadata"]["labels"].get("taskspec.io/phase") == "run"
        return "fail:3" if is_run and not fixed["yes"] else "succeed"

    dags = tmp_path / "dags"
    shutil.copytree(REPO / "dags" / "examples" / "hello", dags / "hello")
    # Without its 06:00 schedule: unpausing a scheduled DAG also starts its latest scheduled run, which would
    # run beside the triggered one on the fake server.
    spec = dags / "hello" / "ame.yml"
    unscheduled = spec.read_text().replace('    triggers:\n      schedule: "0 6 * * *"\n', "")
    assert unscheduled != spec.read_text()
    spec.write_text(unscheduled)
    shutil.copy(REPO / "dags" / "taskspec_dags.py", dags / "taskspec_dags.py")
    with FakeCluster(behaviour) as cluster:
        env = {"KUBECONFIG": cluster.kubeconfig, "AIRFLOW__TASKSPEC__BACKEND": "kubernetes",
               "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{tmp_path / 'store'}",
               "AIRFLOW__TASKSPEC__POD_POLL_INTERVAL": "0.2", "TASKSPEC_COMPILE_CACHE_DIR": str(tmp_path / "cache")}
        with AirflowServer(dags, tmp_path / "home", env=env) as airflow:
            airflow.wait_for_dag(DAG_ID)
            airflow.unpause(DAG_ID)
            run_id = airflow.trigger(DAG_ID)
            assert airflow.wait_for_run(DAG_ID, run_id)["state"] == "failed"
            first_claims = [b["metadata"]["name"] for b in cluster.created("persistentvolumeclaims")]
            assert len(first_claims) == 1

            fixed["yes"] = True
            assert set(airflow.clear(DAG_ID, run_id, [STEP])) == {STEP, "taskspec_teardown"}
            assert airflow.wait_for_run(DAG_ID, run_id)["state"] == "success"
            ti = airflow.task_instances(DAG_ID, run_id)[STEP]
            assert (ti["state"], ti["try_number"]) == ("success", 2)

        claims = cluster.created("persistentvolumeclaims")
        pods = cluster.created("pods")
        live_pods, live_claims = cluster.live_objects("pods"), cluster.live_objects("persistentvolumeclaims")
    # Try 2 had a workspace of its own, and spawned every phase again (provision first).
    assert [c["metadata"]["labels"]["taskspec.io/try"] for c in claims] == ["1", "2"]
    assert claims[0]["metadata"]["name"] == first_claims[0] != claims[1]["metadata"]["name"]
    by_try = [(p["metadata"]["labels"]["taskspec.io/try"], p["metadata"]["labels"]["taskspec.io/phase"]) for p in pods]
    assert by_try == [("1", "provision"), ("1", "run"), ("1", "collect"), ("2", "provision"), ("2", "run"),
                      ("2", "collect")]
    assert {c["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] for c in pods[3:]} == {
        claims[1]["metadata"]["name"]}
    assert live_pods == [] and live_claims == []

