"""The pods and PVC one step's operator would create, built by the KubernetesPodOperator with no cluster (dry
run), through the operator's ``manifests()`` (what `taskspec render` prints)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from airflow_taskspec import ir
from airflow_taskspec.backends import StepPlan, k8s_pods
from airflow_taskspec.backends.k8s_phase_pods import PhasePod
from airflow_taskspec.backends.k8s_pods import KubernetesSpecError
from airflow_taskspec.backends.kubernetes import KubernetesStepOperator
from airflow_taskspec.config import settings

PLAN = StepPlan(dag_id="proj.task", step="train", earlier_steps=("prep",), hands_on=True)


def cfg(**changes: Any) -> Any:
    fields = {"backend": "kubernetes", "artifact_store": "s3://bucket/ts", "artifact_conn_id": "", **changes}
    return replace(settings(), **fields)


def task_run(**changes: Any) -> ir.TaskRun:
    base = ir.TaskRun(
        name="train",
        recipe=ir.Recipe(ir.ExecutorKind.CUSTOM, "python train.py", "3.12"),
        source=ir.ProjectSource(folder=None),
    )
    return replace(base, **changes)


def pod_of(phase: str, run: ir.TaskRun, settings: Any = None) -> dict[str, Any]:
    step = KubernetesStepOperator(plan=PLAN, settings=settings or cfg(), task_run=run)
    return dict(step.manifests()[phase])


def test_run_pod_env_resources_and_secrets() -> None:
    run = task_run(
        env=(ir.EnvVar("B", "2"), ir.EnvVar("A", "$(B)-1")),
        secrets=(ir.SecretRef(ir.SecretStore.PLATFORM, "db-password", "DB_PASSWORD"),),
        resources=ir.Resources(cpu="2", memory="4Gi", storage="20Gi", gpu=1, extra=(("amd.com/gpu", "1"),)),
        timeout_seconds=600,
    )
    pod = pod_of(
        "run",
        run,
        cfg(
            secret_data_key="token",
            service_account="runner",
            node_selector={"pool": "gpu"},
            tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        ),
    )
    base = pod["spec"]["containers"][0]
    assert base["image"] == "taskspec-executor:py3.12"
    assert base["command"][:2] == ["bash", "-c"] and base["command"][2].startswith("set -euo pipefail\n")
    assert base["command"][2].endswith("python train.py\n")
    names = [e["name"] for e in base["env"]]
    assert names == [
        "TASKSPEC_WORKSPACE",
        "TASKSPEC_DAG_ID",
        "TASKSPEC_RUN_ID",
        "TASKSPEC_TASK",
        "TASKSPEC_ARTIFACT_URL",
        "B",
        "A",
        "DB_PASSWORD",
    ]
    assert base["env"][-1] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db-password", "key": "token"}},
    }
    assert base["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1", "amd.com/gpu": "1"},
    }
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["activeDeadlineSeconds"] == 600
    assert spec["securityContext"] == {"fsGroup": 1000}
    assert spec["serviceAccountName"] == "runner" and spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert base["workingDir"] == "/workspace"
    assert spec["volumes"][0]["persistentVolumeClaim"]["claimName"].startswith("ts-train-")


def test_image_from_the_task_wins() -> None:
    pod = pod_of("run", task_run(image="ghcr.io/me/model:1"))
    assert pod["spec"]["containers"][0]["image"] == "ghcr.io/me/model:1"


def test_vault_secrets_need_a_role_then_use_injector_annotations() -> None:
    run = task_run(secrets=(ir.SecretRef(ir.SecretStore.VAULT, "secret/data/api", "API_TOKEN", vault="main"),))
    with pytest.raises(KubernetesSpecError, match="vault_role"):
        pod_of("run", run)
    pod = pod_of("run", run, cfg(vault_role="taskspec"))
    notes = pod["metadata"]["annotations"]
    assert notes["vault.hashicorp.com/agent-inject"] == "true"
    assert notes["vault.hashicorp.com/agent-pre-populate-only"] == "true"
    assert notes["vault.hashicorp.com/role"] == "taskspec"
    assert notes["vault.hashicorp.com/agent-inject-secret-API_TOKEN"] == "secret/data/api"
    assert "{{ .Data.data.value }}" in notes["vault.hashicorp.com/agent-inject-template-API_TOKEN"]
    assert 'export API_TOKEN="$(cat /vault/secrets/API_TOKEN)"' in pod["spec"]["containers"][0]["command"][2]


def test_secret_names_follow_the_key() -> None:
    pod = pod_of("run", task_run(secrets=(ir.SecretRef(ir.SecretStore.PLATFORM, "blob_storage_key", "KEY"),)))
    assert pod["spec"]["containers"][0]["env"][-1]["valueFrom"]["secretKeyRef"]["name"] == "blob-storage-key"
    with pytest.raises(KubernetesSpecError, match="cannot name a Kubernetes Secret"):
        pod_of("run", task_run(secrets=(ir.SecretRef(ir.SecretStore.PLATFORM, "my secret!", "X"),)))


def test_commands_are_not_jinja_templates() -> None:
    assert KubernetesStepOperator.template_fields == () and PhasePod.template_fields == ()


def test_filer_pods_carry_the_phase_specs(tmp_path: Any) -> None:
    (tmp_path / "main.py").write_text("print(1)\n")
    run = task_run(
        source=ir.ProjectSource(folder=str(tmp_path)),
        artifacts=ir.Artifacts(paths=("out",), save_changed_files=True),
    )
    provision = pod_of("provision", run, cfg(artifact_secret="store-keys"))
    base = provision["spec"]["containers"][0]
    assert base["command"][:5] == ["python", "-m", "airflow_taskspec.runtime", "provision", "--spec"]
    assert '"project_url": "s3://bucket/ts/projects/' in base["command"][5]
    assert "runs/proj/task/render/prep/handoff" in base["command"][5]
    assert base["envFrom"] == [{"secretRef": {"name": "store-keys"}}]
    assert base["image"] == "taskspec-filer:latest"
    collect = pod_of("collect", run)
    cmd = collect["spec"]["containers"][0]["command"]
    assert (
        cmd[3] == "collect"
        and '"artifact_paths": ["out"]' in cmd[5]
        and '"save_changed_files": true' in cmd[5]
        and '"run_succeeded": false' in cmd[5]  # rendered without a run: nothing to publish
    )
    assert cmd[6:] == ["--result-url", "s3://bucket/ts/runs/proj/task/render/train/collected.json"]


def test_git_sources_are_fetched_by_an_init_container() -> None:
    run = task_run(source=ir.ProjectSource(git_url="https://example.com/p.git", git_ref="v1"))
    pod = pod_of("provision", run)
    init = pod["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["git"]
    assert "git fetch --quiet --depth 1 https://example.com/p.git v1" in init[0]["command"][2]
    assert '"project_url": null' in pod["spec"]["containers"][0]["command"][5]


def test_file_stores_are_mounted_from_the_host() -> None:
    pod = pod_of("collect", task_run(), cfg(artifact_store="file:///srv/store"))
    assert {"name": "artifact-store", "hostPath": {"path": "/srv/store", "type": "DirectoryOrCreate"}} in pod[
        "spec"
    ]["volumes"]


def test_pvc_size_and_class() -> None:
    manifest = k8s_pods.pvc_manifest(
        cfg(storage_class="fast", pvc_access_mode="ReadWriteMany"),
        task_run(resources=ir.Resources(storage="20Gi")),
        "ts-x",
        {"a": "b"},
    )
    assert manifest["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "fast",
    }
    assert (
        k8s_pods.pvc_manifest(cfg(), task_run(), "ts-x", {})["spec"]["resources"]["requests"]["storage"]
        == "1Gi"
    )


def test_typed_inputs_reach_the_provision_pod_and_the_run_pods_environment() -> None:
    threshold = ir.Param("threshold", ir.ParamType.NUMBER, default="0.5", minimum=0, maximum=1)
    run = task_run(inputs=(ir.TaskInput("threshold", param=threshold),
                           ir.TaskInput("notes", path="notes.txt", content="hi")),
                   outputs=(ir.TaskOutput("out/*.json", "s3://b/o"),))
    provision = pod_of("provision", run)["spec"]["containers"][0]["command"]
    spec = json.loads(provision[5])
    assert spec["inputs"] == [{"name": "notes", "path": "notes.txt", "content": "hi"},
                              {"name": "threshold", "type": "number", "value": 0.5}]
    env = pod_of("run", run)["spec"]["containers"][0]["env"]
    assert {"name": "INPUT_THRESHOLD", "value": "0.5"} in env
    collect = json.loads(pod_of("collect", run)["spec"]["containers"][0]["command"][5])
    assert collect["outputs"] == [{"path": "out/*.json", "url": "s3://b/o"}]
