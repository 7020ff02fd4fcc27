"""docker-compose.yaml wires Airflow, k3s, MinIO and the registry together as docs/kubernetes.md says.

No Docker engine runs here, so this reads the file the way compose would (YAML with merge keys, then
`${VAR:-default}` interpolation with an empty environment) and checks the wiring.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


def interpolate(value: Any) -> Any:
    """Compose's `${VAR:-default}` / `${VAR}` with no variables set, and `$$` as a literal `$`."""
    if isinstance(value, str):
        value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    return interpolate(loaded)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]  # type: ignore[no-any-return]


def env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {k: str(v) for k, v in environment.items()}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source, for short-syntax volumes."""
    return {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes") or []}


def test_all_services_are_there(services: dict[str, Any]) -> None:
    expected = {
        *AIRFLOW_SERVICES,
        "airflow-init",
        "postgres",
        "k3s",
        "kubeconfig",
        "minio",
        "minio-init",
        "registry",
    }
    assert expected <= set(services)


def test_airflow_image_is_the_official_one_plus_this_provider(services: dict[str, Any]) -> None:
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        build = services[name]["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == "images/airflow/Dockerfile"
    dockerfile = (REPO / "images/airflow/Dockerfile").read_text()
    assert "apache/airflow:3.3.2-python3.11" in dockerfile
    assert re.search(r"^COPY .*\bprovider\b", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install .*/opt/taskspec", dockerfile, re.MULTILINE)


def test_airflow_commands_and_start_order(services: dict[str, Any]) -> None:
    assert services["airflow-init"]["command"] == ["airflow", "db", "migrate"]
    for name in AIRFLOW_SERVICES:
        assert services[name]["command"] == name
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
    assert "8080:8080" in services["api-server"]["ports"]


def test_airflow_uses_postgres_and_the_local_executor(services: dict[str, Any]) -> None:
    pg = env(services["postgres"])
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        e = env(services[name])
        assert e["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        conn = e["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert conn == (
            f"postgresql+psycopg2://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
        )
        assert e["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://api-server:8080/execution/"


def test_dags_folder_is_mounted(services: dict[str, Any]) -> None:
    assert (REPO / "dags").is_dir()
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        folder = env(services[name])["AIRFLOW__CORE__DAGS_FOLDER"]
        assert mounts(services[name])[folder] == "./dags"


def test_airflow_reads_the_k3s_kubeconfig(services: dict[str, Any]) -> None:
    k3s = services["k3s"]
    assert k3s["privileged"] is True
    assert "--tls-san=k3s" in k3s["command"]  # the name in the rewritten kubeconfig
    output = Path(env(k3s)["K3S_KUBECONFIG_OUTPUT"])
    shared_volume = mounts(k3s)[str(output.parent)]

    rewriter = services["kubeconfig"]
    rewriter_dir = next(t for t, s in mounts(rewriter).items() if s == shared_volume)
    script = "\n".join(rewriter["command"])
    assert f"{rewriter_dir}/{output.name}" in script
    assert "https://k3s:6443" in script

    for name in AIRFLOW_SERVICES:
        kubeconfig = Path(env(services[name])["KUBECONFIG"])
        assert mounts(services[name])[str(kubeconfig.parent)] == shared_volume
        assert f"{rewriter_dir}/{kubeconfig.name}" in script
        assert services[name]["depends_on"]["kubeconfig"]["condition"] == "service_completed_successfully"


def test_taskspec_settings(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        e = env(services[name])
        assert e["AIRFLOW__TASKSPEC__BACKEND"] == "kubernetes"
        assert e["AIRFLOW__TASKSPEC__ARTIFACT_STORE"] == "s3://taskspec-artifacts"
        assert e["AIRFLOW__TASKSPEC__ARTIFACT_CONN_ID"] == "taskspec_artifacts"
        assert "{python_version}" in e["AIRFLOW__TASKSPEC__EXECUTOR_IMAGE"]


def test_taskspec_settings_are_known_options(services: dict[str, Any]) -> None:
    from airflow_taskspec.config import OPTIONS

    used = {
        k.removeprefix("AIRFLOW__TASKSPEC__").lower()
        for k in env(services["scheduler"])
        if k.startswith("AIRFLOW__TASKSPEC__")
    }
    assert used - set(OPTIONS) == set()


def test_artifact_connection_points_at_minio(services: dict[str, Any]) -> None:
    minio = env(services["minio"])
    conn = json.loads(env(services["scheduler"])["AIRFLOW_CONN_TASKSPEC_ARTIFACTS"])
    assert conn["conn_type"] == "aws"
    assert conn["login"] == minio["MINIO_ROOT_USER"]
    assert conn["password"] == minio["MINIO_ROOT_PASSWORD"]
    # Pods get the endpoint from this connection too, and they cannot resolve compose service names.
    minio_ip = services["minio"]["networks"]["default"]["ipv4_address"]
    assert conn["extra"]["endpoint_url"] == f"http://{minio_ip}:9000"
    bucket = env(services["scheduler"])["AIRFLOW__TASKSPEC__ARTIFACT_STORE"].removeprefix("s3://")
    assert f"local/{bucket}" in services["minio-init"]["command"][0]
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_pods_get_artifact_credentials_from_a_k3s_secret(compose: dict[str, Any]) -> None:
    services = compose["services"]
    e = env(services["scheduler"])
    docs = list(yaml.safe_load_all(compose["configs"]["k3s-taskspec-manifests"]["content"]))
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert secret["metadata"]["name"] == e["AIRFLOW__TASKSPEC__ARTIFACT_SECRET"]
    assert secret["metadata"]["namespace"] == e["AIRFLOW__TASKSPEC__NAMESPACE"]
    assert any(
        d["kind"] == "Namespace" and d["metadata"]["name"] == e["AIRFLOW__TASKSPEC__NAMESPACE"] for d in docs
    )
    minio = env(services["minio"])
    assert secret["stringData"]["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert secret["stringData"]["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    # Pods cannot resolve compose names: they reach MinIO at its fixed address.
    minio_ip = services["minio"]["networks"]["default"]["ipv4_address"]
    assert secret["stringData"]["AWS_ENDPOINT_URL"] == f"http://{minio_ip}:9000"
    ipam = compose["networks"]["default"]["ipam"]["config"][0]
    assert ipaddress.ip_address(minio_ip) in ipaddress.ip_network(ipam["subnet"])
    assert ipaddress.ip_address(minio_ip) not in ipaddress.ip_network(ipam["ip_range"])
    targets = {c["source"]: c["target"] for c in services["k3s"]["configs"]}
    assert targets["k3s-taskspec-manifests"].startswith("/var/lib/rancher/k3s/server/manifests/")


def test_task_images_come_from_the_local_registry(compose: dict[str, Any]) -> None:
    services = compose["services"]
    e = env(services["scheduler"])
    assert "5000:5000" in services["registry"]["ports"]
    assert services["registry"]["image"].startswith("registry:2")
    executor = e["AIRFLOW__TASKSPEC__EXECUTOR_IMAGE"]
    filer = e["AIRFLOW__TASKSPEC__FILER_IMAGE"]
    # The images the `images` profile builds and pushes are the ones the pods use.
    assert services["executor-image"]["image"] == executor.format(python_version="3.11")
    assert services["executor-image"]["build"]["dockerfile"] == "images/executor/Dockerfile"
    assert services["filer-image"]["image"] == filer
    assert services["filer-image"]["build"]["dockerfile"] == "images/filer/Dockerfile"
    # k3s pulls that registry name from the registry service.
    registry_host = executor.split("/")[0]
    assert filer.split("/")[0] == registry_host
    mirrors = yaml.safe_load(compose["configs"]["k3s-registries"]["content"])["mirrors"]
    assert mirrors[registry_host]["endpoint"] == ["http://registry:5000"]
    targets = {c["source"]: c["target"] for c in services["k3s"]["configs"]}
    assert targets["k3s-registries"] == "/etc/rancher/k3s/registries.yaml"
