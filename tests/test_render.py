"""`taskspec render`: every pod and PVC manifest of every example project is valid Kubernetes (1.30 and 1.37
schemas, plus the names and quantities the schemas do not check), and stdout holds nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from airflow_taskspec.backends import k8s_names
from airflow_taskspec.dialects.resources import is_quantity, is_too_large

from tests.conftest import GATES

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "dags" / "examples"
TASKSPEC = str(Path(sys.executable).parent / "taskspec")
VERSIONS = ("1.30.0", "1.37.0")
_ANNOTATION_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")

SECRET_PROJECT = """\
name: secretive
tasks:
  - name: uses_secrets
    executor: !custom
      command: echo "$MY_BLOB_STORAGE_SECRET" | wc -c
    resources:
      cpu: 1500m
      memory: 2Gi
      storage: 30G
      nvidia.com/gpu: 1
    secrets:
      - !ame
        key: blob_storage_key
        injectAs: MY_BLOB_STORAGE_SECRET
"""


def render(*paths: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TASKSPEC, "render", *paths],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIRFLOW__TASKSPEC__BACKEND": "kubernetes", **env},
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    extra = tmp_path_factory.mktemp("secretive")
    (extra / "ame.yml").write_text(SECRET_PROJECT)
    done = render(str(EXAMPLES), str(extra))
    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all(done.stdout))  # stdout is YAML and nothing else
    assert docs and all(isinstance(d, dict) for d in docs)
    return docs


def containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod["spec"].get("initContainers") or []
    yield from pod["spec"]["containers"]


def phases_by_step(rendered: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for doc in rendered:
        labels = doc["metadata"]["labels"]
        key = (labels["taskspec.io/dag-id"], labels["taskspec.io/task"])
        found.setdefault(key, []).append(labels.get("taskspec.io/phase", "pvc"))
    return found


def test_every_manifest_validates_against_kubernetes_schemas(rendered: list[dict[str, Any]]) -> None:
    kinds = [d["kind"] for d in rendered]
    # hello (1 step) + house_prices (4 single-step DAGs + the 4-step pipeline) + secretive (1): 10 steps;
    # peach_demo: zzebu (2 tasks) + debr (1) + metadata (2), each a provision and a run pod.
    assert kinds.count("PersistentVolumeClaim") == 15 and kinds.count("Pod") == 36
    for doc in rendered:
        for version in VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_each_step_has_a_pvc_and_only_the_pods_it_needs(rendered: list[dict[str, Any]]) -> None:
    """Every example step stages its project folder; a step that saves nothing (no artifacts, no later
    step needing its files, no data set) gets no collection pod."""
    full, no_collect = ["pvc", "provision", "run", "collect"], ["pvc", "provision", "run"]
    assert phases_by_step(rendered) == {
        ("hello.daily_greeting", "daily_greeting"): full,  # saveChangedFiles
        **{("house_prices.train_and_compare", s): full for s in ("prepare_data", "train_linear", "train_knn")},
        ("house_prices.train_and_compare", "compare"): full,  # artifacts.paths
        ("house_prices.prepare_data", "prepare_data"): no_collect,
        ("house_prices.train_linear", "train_linear"): no_collect,
        ("house_prices.train_knn", "train_knn"): no_collect,
        ("house_prices.compare", "compare"): full,
        ("secretive.uses_secrets", "uses_secrets"): no_collect,
        # PEACH loop tasks are independent: nothing to save, nothing handed to the next task
        ("peach.zzebu", "rank_headlines"): no_collect, ("peach.zzebu", "word_stats"): no_collect,
        ("peach.debr", "programme_gaps"): no_collect,
        ("peach.metadata", "debr.fetch_feed"): no_collect, ("peach.metadata", "zzebu.section_counts"): no_collect,
    }


def test_names_labels_and_annotations(rendered: list[dict[str, Any]]) -> None:
    for doc in rendered:
        meta = doc["metadata"]
        assert k8s_names.is_dns_label(meta["name"]), meta["name"]  # pods and PVCs: <= 63, DNS-1123 label
        assert all(k8s_names.is_label_value(v) for v in meta["labels"].values()), meta["labels"]
        assert all(
            _ANNOTATION_KEY.match(k) for k in list(meta["labels"]) + list(meta.get("annotations") or {})
        )
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "taskspec"
        assert {"taskspec.io/dag-id", "taskspec.io/run-id", "taskspec.io/task"} <= set(meta["labels"])
        if doc["kind"] == "Pod":
            for c in containers(doc):
                assert k8s_names.is_dns_label(c["name"])
                assert all(k8s_names.is_env_name(e["name"]) for e in c.get("env") or [])
            for volume in doc["spec"]["volumes"]:
                assert k8s_names.is_dns_label(volume["name"])
                if "persistentVolumeClaim" in volume:
                    assert k8s_names.is_dns_label(volume["persistentVolumeClaim"]["claimName"])


def test_quantities_and_enums(rendered: list[dict[str, Any]]) -> None:
    for doc in rendered:
        if doc["kind"] == "PersistentVolumeClaim":
            assert is_quantity(doc["spec"]["resources"]["requests"]["storage"])
            assert set(doc["spec"]["accessModes"]) <= {
                "ReadWriteOnce",
                "ReadOnlyMany",
                "ReadWriteMany",
                "ReadWriteOncePod",
            }
            continue
        assert doc["spec"]["restartPolicy"] == "Never"
        for c in containers(doc):
            assert c["imagePullPolicy"] in ("Always", "IfNotPresent", "Never")
            for section in ("requests", "limits"):
                for value in ((c.get("resources") or {}).get(section) or {}).values():
                    assert is_quantity(str(value)), value


def test_pods_share_their_task_pvc_and_the_run_pod_has_the_task_resources(
    rendered: list[dict[str, Any]],
) -> None:
    claims = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "PersistentVolumeClaim"}
    for pod in (d for d in rendered if d["kind"] == "Pod"):
        claim = pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
        assert (
            claims[claim]["metadata"]["labels"]["taskspec.io/task"]
            == pod["metadata"]["labels"]["taskspec.io/task"]
        )
    run = next(
        d
        for d in rendered
        if d["kind"] == "Pod"
        and d["metadata"]["labels"]["taskspec.io/task"] == "uses_secrets"
        and d["metadata"]["labels"]["taskspec.io/phase"] == "run"
    )
    assert run["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "1500m",
        "memory": "2Gi",
        "nvidia.com/gpu": "1",
    }
    pvc = next(d for d in claims.values() if d["metadata"]["labels"]["taskspec.io/task"] == "uses_secrets")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "30G"


def test_secrets_are_references_only(rendered: list[dict[str, Any]]) -> None:
    run = next(
        d
        for d in rendered
        if d["kind"] == "Pod"
        and d["metadata"]["labels"]["taskspec.io/task"] == "uses_secrets"
        and d["metadata"]["labels"]["taskspec.io/phase"] == "run"
    )
    secret = next(e for e in run["spec"]["containers"][0]["env"] if e["name"] == "MY_BLOB_STORAGE_SECRET")
    assert secret == {
        "name": "MY_BLOB_STORAGE_SECRET",
        "valueFrom": {"secretKeyRef": {"name": "blob-storage-key", "key": "value"}},
    }


def test_render_reports_spec_errors_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "ame.yml").write_text(
        "name: broken\ntasks:\n  - name: t\n    executor: !nope\n      command: x\n"
    )
    done = render(str(tmp_path))
    assert done.returncode == 1 and done.stdout == "" and "ame.yml" in done.stderr


# The Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards), as a namespace
# labelled pod-security.kubernetes.io/enforce=restricted checks them: baseline's rules, then restricted's.
_RESTRICTED_VOLUME_KINDS = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                            "projected", "secret"}
_SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                 "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                 "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                 "net.ipv4.tcp_keepalive_probes"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    spec, found = pod["spec"], []
    pod_sc = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(f"{key} is true")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUME_KINDS:
            found.append(f"volume {volume['name']} is {sorted(kinds)}")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl["name"] not in _SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl['name']}")
    if (pod_sc.get("seLinuxOptions") or {}).get("user") or (pod_sc.get("seLinuxOptions") or {}).get("role"):
        found.append("pod seLinuxOptions user/role")
    if pod_sc.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        found.append(f"pod seccomp {pod_seccomp}")
    for c in containers(pod):
        sc, name = c.get("securityContext") or {}, c["name"]
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            found.append(f"{name}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            found.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        if (sc.get("seccompProfile") or {}).get("type", pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: no RuntimeDefault/Localhost seccomp profile")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {caps['add']}")
        resources = c.get("resources") or {}
        for section in ("requests", "limits"):
            for kind in ("cpu", "memory"):
                if kind not in (resources.get(section) or {}):
                    found.append(f"{name}: no {kind} in {section}")
    return found


@pytest.fixture(scope="module")
def rendered_for_a_cluster(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """As `rendered`, with an object store (a file:// store is a hostPath, for single-node clusters only)."""
    extra = tmp_path_factory.mktemp("secretive-cluster")
    (extra / "ame.yml").write_text(SECRET_PROJECT)
    done = render(str(EXAMPLES), str(extra), AIRFLOW__TASKSPEC__ARTIFACT_STORE="s3://bucket/ts")
    assert done.returncode == 0, done.stderr
    return list(yaml.safe_load_all(done.stdout))


def test_every_pod_of_every_example_meets_the_restricted_pod_security_standard(
    rendered_for_a_cluster: list[dict[str, Any]],
) -> None:
    pods = [d for d in rendered_for_a_cluster if d["kind"] == "Pod"]
    phases = {d["metadata"]["labels"]["taskspec.io/phase"] for d in pods}
    assert phases == {"provision", "run", "collect"}
    assert {p["metadata"]["name"]: restricted_violations(p) for p in pods if restricted_violations(p)} == {}
    assert all(p["spec"]["securityContext"]["runAsUser"] == 1000 for p in pods)


def test_the_tasks_resources_win_over_the_defaults(rendered_for_a_cluster: list[dict[str, Any]]) -> None:
    run = next(d for d in rendered_for_a_cluster if d["kind"] == "Pod"
               and d["metadata"]["labels"]["taskspec.io/task"] == "uses_secrets"
               and d["metadata"]["labels"]["taskspec.io/phase"] == "run")
    assert run["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "1500m", "memory": "2Gi"},
        "limits": {"cpu": "1500m", "memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    filer = next(d for d in rendered_for_a_cluster if d["kind"] == "Pod"
                 and d["metadata"]["labels"]["taskspec.io/phase"] == "collect")
    assert filer["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"},
    }


def test_a_file_store_is_a_host_path_which_the_restricted_profile_refuses(rendered: list[dict[str, Any]]) -> None:
    # Documented (docs/kubernetes.md): file:// stores are for single-node clusters; the checker sees it.
    collect = next(d for d in rendered
                   if d["kind"] == "Pod" and d["metadata"]["labels"]["taskspec.io/phase"] == "collect")
    assert [v for v in restricted_violations(collect) if "hostPath" in v]


def test_a_shared_data_set_volume_renders_valid_restricted_pods(tmp_path: Path) -> None:
    # [taskspec] data_set_volume_claim: the consumer's executor and collect pods mount it read-only.
    (tmp_path / "ame.yaml").write_text(GATES)
    done = render(str(tmp_path), AIRFLOW__TASKSPEC__ARTIFACT_STORE="s3://bucket/ts",
                  AIRFLOW__TASKSPEC__DATA_SET_VOLUME_CLAIM="taskspec-store",
                  AIRFLOW__TASKSPEC__DATA_SET_VOLUME_PATH="store")
    assert done.returncode == 0, done.stderr
    pods = [d for d in yaml.safe_load_all(done.stdout) if d["kind"] == "Pod"]
    mounting = {(p["metadata"]["labels"]["taskspec.io/task"], p["metadata"]["labels"]["taskspec.io/phase"])
                for p in pods if any(v["name"] == "data-sets" for v in p["spec"].get("volumes") or [])}
    assert mounting == {("sum_numbers", "run"), ("sum_numbers", "collect")}  # the producer reads none
    for pod in pods:
        for version in VERSIONS:
            kubernetes_validate.validate(pod, version, strict=True)
    assert {p["metadata"]["name"]: restricted_violations(p) for p in pods if restricted_violations(p)} == {}


@pytest.mark.parametrize("quantity, too_large", [
    ("9223372036854775807", False), ("9223372036854775808", True),  # 2^63-1 is the largest
    ("7Ei", False), ("8Ei", True),  # 8 * 2^60 = 2^63
    ("9E", False), ("10E", True), ("9.2e18", False), ("9.3e18", True),
    ("500m", False), ("64Gi", False), ("0e99999", False), ("1e309", True),
    ("1e999999999", True),  # decided from the exponent, without building the number
])
def test_a_quantity_above_what_kubernetes_holds_is_too_large(quantity: str, too_large: bool) -> None:
    assert is_quantity(quantity)
    assert is_too_large(quantity) is too_large
