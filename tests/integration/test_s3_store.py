"""The data plane against a real S3 protocol server on loopback (moto in server mode, one per test).

The worker reaches the store through an Airflow `aws` connection (ObjectStoragePath + conn_id); the filer
runs as in a pod: `python -m airflow_taskspec.runtime` with the connection's non-secret options and the keys
in its environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_taskspec import artifact_store, config
from airflow_taskspec.runtime import datasets, publish, store, workspace
from moto_s3 import KEY, SECRET, S3Server, moto_server

pytestmark = pytest.mark.integration

BUCKET = "store"
STORE = f"s3://{BUCKET}/taskspec"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    with moto_server(BUCKET) as server:
        connection = {"conn_type": "aws", "login": KEY, "password": SECRET,
                      "extra": {"endpoint_url": server.endpoint, "region_name": "us-east-1"}}
        monkeypatch.setenv("AIRFLOW_CONN_TASKSPEC_STORE", json.dumps(connection))
        monkeypatch.setenv("AIRFLOW__TASKSPEC__ARTIFACT_STORE", STORE)
        monkeypatch.setenv("AIRFLOW__TASKSPEC__ARTIFACT_CONN_ID", "taskspec_store")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)  # the connection, and nothing else, must supply them
        yield server


def _tree(root: Path, count: int) -> list[str]:
    for i in range(count):
        folder = root / f"part{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"item{i:05d}.txt").write_text(f"item {i}\n")
    return workspace.walk_files(str(root))


def _keys(server: S3Server, prefix: str) -> list[str]:
    client: Any = server.client()
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def test_a_folder_of_1500_objects_goes_up_and_down_through_the_airflow_connection(
    s3: S3Server, tmp_path: Path
) -> None:
    rels = _tree(tmp_path / "up", 1500)
    dest = artifact_store.location(config.settings(), STORE + "/artifacts/p/t/run/step")
    manifest = publish.publish(str(tmp_path / "up"), rels, dest)

    client: Any = s3.client()
    first_page = client.list_objects_v2(Bucket=BUCKET, Prefix="taskspec/artifacts/p/t/run/step/files/")
    assert first_page["IsTruncated"] and first_page["KeyCount"] == 1000  # more than one page to list
    assert len(store.list_files(dest.child("files"))) == 1500
    assert len(manifest.files) == 1500 and manifest.files[0].url.startswith(STORE + "/artifacts/p/t/run/step/files/")

    again = publish.read_manifest(artifact_store.location(config.settings(), dest.url))
    assert again is not None
    publish.fetch(again, dest, str(tmp_path / "down"))
    assert workspace.walk_files(str(tmp_path / "down")) == rels
    assert (tmp_path / "down" / rels[1234]).read_text() == (tmp_path / "up" / rels[1234]).read_text()


def test_pods_get_the_connections_endpoint_but_never_its_keys(s3: S3Server) -> None:
    options = artifact_store.pod_options(artifact_store.filesystem(config.settings()))
    assert options["endpoint_url"] == s3.endpoint
    assert KEY not in json.dumps(options) and SECRET not in json.dumps(options)


_MEASURE = r"""
import json, resource, sys
from airflow_taskspec.runtime import publish, store
import s3fs
spec = json.loads(sys.argv[1])
fs = s3fs.S3FileSystem(key=spec["key"], secret=spec["secret"], endpoint_url=spec["endpoint"])
dest = store.locate(spec["url"], fs=fs)
manifest = publish.publish(spec["root"], spec["files"], dest)
publish.fetch(manifest, dest, spec["down"])
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "sizes": [r.size for r in manifest.files]}))
"""


def _measure(s3: S3Server, tmp_path: Path, name: str, files: list[str]) -> dict[str, Any]:
    spec = {"key": KEY, "secret": SECRET, "endpoint": s3.endpoint, "url": f"{STORE}/{name}",
            "root": str(tmp_path / "up"), "files": files, "down": str(tmp_path / name)}
    done = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps(spec)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_a_200_mb_file_is_streamed_up_and_down_in_bounded_memory(s3: S3Server, tmp_path: Path) -> None:
    up = tmp_path / "up"
    up.mkdir()
    block = os.urandom(1 << 20)
    with open(up / "big.bin", "wb") as fh:
        fh.writelines(i.to_bytes(4, "big") + block[4:] for i in range(200))
    (up / "small.txt").write_text("small\n")

    baseline = _measure(s3, tmp_path, "small", ["small.txt"])  # the same process, code and libraries
    big = _measure(s3, tmp_path, "big", ["big.bin"])

    assert big["sizes"] == [200 << 20]
    assert workspace.file_digest(str(tmp_path / "big" / "big.bin")) == workspace.file_digest(str(up / "big.bin"))
    grew_mib = (big["peak_kib"] - baseline["peak_kib"]) / 1024
    assert grew_mib < 64, f"peak memory grew by {grew_mib:.0f} MiB for a 200 MiB file"


def _filer(s3: S3Server, action: str, spec: dict[str, Any]) -> subprocess.Popen[str]:
    """The filer as a pod runs it: store options without keys, the keys in the environment."""
    fields = {**spec, "store_options": artifact_store.pod_options(artifact_store.filesystem(config.settings()))}
    env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.Popen([sys.executable, "-m", "airflow_taskspec.runtime", action, "--spec", json.dumps(fields)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def _kill_when(s3: S3Server, proc: subprocess.Popen[str], prefix: str, objects: int) -> None:
    deadline = time.monotonic() + 300
    while len(_keys(s3, prefix)) < objects:
        assert proc.poll() is None, "the collect ended before it could be killed: " + (proc.stdout.read() if proc.stdout else "")
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.parametrize("what", ["artifacts", "data set version"])
def test_a_collect_killed_in_the_middle_leaves_nothing_complete_and_a_rerun_completes_it(
    s3: S3Server, tmp_path: Path, what: str
) -> None:
    ws = tmp_path / "ws"
    rels = _tree(ws / "out", 1500)
    artifacts = f"{STORE}/artifacts/p/t/run/step"
    data_set = f"{STORE}/datasets/p/ds"
    spec = {"workspace": str(ws), "artifact_url": artifacts, "run_succeeded": True}
    if what == "artifacts":
        spec["artifact_paths"] = ["out"]
        watched = "taskspec/artifacts/p/t/run/step/files/"
    else:
        spec["data_sets"] = [{"url": data_set, "path": "out"}]
        watched = "taskspec/datasets/p/ds/"
        seed = tmp_path / "seed"
        (seed / "out").mkdir(parents=True)
        (seed / "out" / "old.txt").write_text("the previous version\n")
        loc = artifact_store.location(config.settings(), data_set)
        previous, _ = datasets.publish_version(str(seed), "out", loc, keep=3)

    killed = _filer(s3, "collect", spec)
    _kill_when(s3, killed, watched, 300)
    assert killed.returncode == -signal.SIGKILL

    settings = config.settings()
    if what == "artifacts":
        assert publish.read_manifest(artifact_store.location(settings, artifacts)) is None
        assert "taskspec/artifacts/p/t/run/step/manifest.json" not in _keys(s3, "taskspec/")
    else:
        found = datasets.latest(artifact_store.location(settings, data_set))
        assert found is not None and found[0] == previous  # the half-written version does not exist for readers
        assert [r.path for r in found[1].files] == ["old.txt"]

    rerun = _filer(s3, "collect", spec)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, output[-3000:]
    if what == "artifacts":
        done = publish.read_manifest(artifact_store.location(settings, artifacts))
        assert done is not None and [r.path for r in done.files] == [f"out/{r}" for r in rels]
    else:
        loc = artifact_store.location(settings, data_set)
        found = datasets.latest(loc)
        assert found is not None and found[0].number == previous.number + 2  # the dead attempt took one number
        assert sorted(r.path for r in found[1].files) == rels
        # the dead attempt's folder is gone; the previous version is kept
        assert [v.name for v in datasets.all_versions(loc)] == [previous.name, found[0].name]
