"""The runtime: staging a workspace, finding what a task changed, saving to the store atomically."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from airflow_taskspec.runtime import datasets, layout, phases, publish, report, store, transfer, workspace

QUIET = {"log": lambda *_: None}


def _project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('hi')\n")
    (root / "data.csv").write_text("a,b\n1,2\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    return root


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _provisioned(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    phases.provision(phases.ProvisionSpec(workspace=str(ws), project_url=str(_project(tmp_path / "p"))), **QUIET)
    return ws


def test_provision_copies_the_project_without_vcs_and_records_a_manifest(tmp_path: Path) -> None:
    ws = _provisioned(tmp_path)
    assert (ws / "src" / "main.py").read_text() == "print('hi')\n"
    assert not (ws / ".git").exists()
    manifest = workspace.read_manifest(str(ws))
    assert set(manifest.files) == {"src/main.py", "data.csv"}
    assert manifest.files["data.csv"] == workspace.Entry(8, _sha(b"a,b\n1,2\n"))


def test_collect_records_url_path_size_and_sha256_under_a_committed_manifest(tmp_path: Path) -> None:
    ws = _provisioned(tmp_path)
    (ws / "out").mkdir()
    (ws / "out" / "model.bin").write_bytes(b"\x00\x01")
    store_url = f"file://{tmp_path / 'store'}"
    result = phases.collect(phases.CollectSpec(workspace=str(ws), artifact_url=store_url + "/a",
                                               artifact_paths=["out"], meta={"run_id": "r1"}), **QUIET)
    assert result["artifacts"] == [{"path": "out/model.bin", "size": 2, "sha256": _sha(b"\x00\x01"),
                                    "url": store_url + "/a/files/out/model.bin"}]
    assert (tmp_path / "store" / "a" / "files" / "out" / "model.bin").read_bytes() == b"\x00\x01"
    committed = json.loads((tmp_path / "store" / "a" / "manifest.json").read_text())
    assert committed["run_id"] == "r1" and [f["path"] for f in committed["files"]] == ["out/model.bin"]
    assert sorted(p.name for p in (tmp_path / "store" / "a").rglob("*") if p.is_file()) == ["manifest.json",
                                                                                          "model.bin"]


def test_save_changed_files_saves_exactly_the_added_and_modified_files(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    (project / "untouched.txt").write_text("same\n")
    (project / "rewritten.txt").write_text("same too\n")
    ws = tmp_path / "ws"
    phases.provision(phases.ProvisionSpec(workspace=str(ws), project_url=str(project)), **QUIET)
    (ws / "data.csv").write_text("a,b\n3,4\n")  # modified, same size
    (ws / "src" / "new.py").write_text("x = 1\n")  # added
    (ws / "empty.txt").write_text("")  # added, empty
    os.remove(ws / "src" / "main.py")  # deleted
    (ws / "rewritten.txt").write_text("same too\n")  # written again with the same content
    for env in (".venv/lib/x.py", "myenv/lib/y.py", "node_modules/m/i.js", ".cache/pip/z", "src/__pycache__/a.pyc"):
        (ws / env).parent.mkdir(parents=True, exist_ok=True)
        (ws / env).write_text("env\n")
    (ws / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")  # a virtualenv under any name
    store_url = f"file://{tmp_path / 'store'}"
    result = phases.collect(phases.CollectSpec(workspace=str(ws), artifact_url=store_url + "/a",
                                               save_changed_files=True), **QUIET)
    assert [r["path"] for r in result["artifacts"]] == ["data.csv", "empty.txt", "src/new.py"]


def test_a_file_rewritten_with_the_same_content_is_not_changed(tmp_path: Path) -> None:
    ws = _provisioned(tmp_path)
    os.utime(ws / "data.csv", (1, 1))
    (ws / "data.csv").write_text("a,b\n1,2\n")
    assert workspace.changed_files(str(ws), workspace.read_manifest(str(ws))) == []


def test_paths_take_files_folders_and_globs_and_report_what_matched_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    for rel in ("out/a.json", "out/deep/b.json", "out/deep/c.txt", "report.html", "logs/1.log", "logs/2.log"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(rel)
    picked = workspace.select(str(ws), ["report.html", "out/deep", "**/*.json", "logs/?.log", "missing/*", "nope"])
    assert picked.files == ["logs/1.log", "logs/2.log", "out/a.json", "out/deep/b.json", "out/deep/c.txt",
                            "report.html"]
    assert picked.unmatched == ["missing/*", "nope"]


@pytest.mark.parametrize("path", ["../etc", "/etc/passwd", "out/../../x"])
def test_an_artifact_path_may_not_leave_the_workspace(tmp_path: Path, path: str) -> None:
    (tmp_path / "ws").mkdir()
    with pytest.raises(ValueError, match="leaves the workspace"):
        workspace.select(str(tmp_path / "ws"), [path])


class _Dies(Exception):
    pass


def _die_after(monkeypatch: pytest.MonkeyPatch, uploads: int) -> None:
    real = transfer.upload_file
    count = {"n": 0}

    def upload(local: str, dest: store.Location, log: Any = None) -> transfer.Sent:
        count["n"] += 1
        if count["n"] > uploads:
            raise _Dies("killed")
        return real(local, dest, log)

    monkeypatch.setattr(transfer, "upload_file", upload)


def _files(root: Path, n: int) -> list[str]:
    for i in range(n):
        (root / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"d{i % 3}" / f"f{i}.txt").write_text(f"content {i}\n")
    return workspace.walk_files(str(root))


def test_a_publish_that_dies_half_way_leaves_nothing_complete_and_a_rerun_completes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    rels = _files(src, 10)
    dest = store.locate(f"file://{tmp_path}/store/set")
    first = publish.publish(str(src), rels[:3], dest)  # an earlier, complete publication here
    assert publish.read_manifest(dest) == first

    _die_after(monkeypatch, 5)
    with pytest.raises(_Dies):
        publish.publish(str(src), rels, dest)
    assert publish.read_manifest(dest) is None  # the old manifest was withdrawn; the new one never came
    assert len(store.list_files(dest.child("files"))) == 5  # the dead attempt's files are there, uncommitted

    monkeypatch.undo()
    done = publish.publish(str(src), rels, dest)
    assert publish.read_manifest(dest) == done
    assert [r.path for r in done.files] == rels
    assert sorted(store.list_files(dest.child("files"))) == rels
    fetched = tmp_path / "fetched"
    publish.fetch(done, dest, str(fetched))
    assert workspace.walk_files(str(fetched)) == rels
    assert (fetched / rels[7]).read_text() == (src / rels[7]).read_text()


def test_a_republish_removes_files_the_new_manifest_does_not_list(tmp_path: Path) -> None:
    src = tmp_path / "src"
    rels = _files(src, 4)
    dest = store.locate(f"file://{tmp_path}/store/set")
    publish.publish(str(src), rels, dest)
    publish.publish(str(src), rels[:2], dest)
    assert sorted(store.list_files(dest.child("files"))) == rels[:2]


def test_a_torn_or_foreign_manifest_is_not_a_commit(tmp_path: Path) -> None:
    dest = store.locate(f"file://{tmp_path}/set")
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "manifest.json").write_text('{"format": 1, "files": [')
    assert publish.read_manifest(dest) is None
    (tmp_path / "set" / "manifest.json").write_text('{"something": "else"}')
    assert publish.read_manifest(dest) is None


def test_a_download_that_does_not_match_its_manifest_fails_and_leaves_no_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    rels = _files(src, 1)
    dest = store.locate(f"file://{tmp_path}/store/set")
    done = publish.publish(str(src), rels, dest)
    (tmp_path / "store" / "set" / "files" / rels[0]).write_text("tampered\n")
    with pytest.raises(transfer.CorruptTransfer, match="the manifest says"):
        publish.fetch(done, dest, str(tmp_path / "out"))
    assert not (tmp_path / "out" / rels[0]).exists()
    assert not (tmp_path / "out" / (rels[0] + ".taskspec-partial")).exists()


def _producer_run(tmp_path: Path, files: dict[str, str], succeeded: bool, keep: int = 3) -> dict[str, Any]:
    ws = tmp_path / "producer"
    if ws.exists():
        store.make_writable(str(ws))
        import shutil

        shutil.rmtree(ws)
    for rel, text in files.items():
        (ws / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / "data" / rel).write_text(text)
    spec = phases.CollectSpec(workspace=str(ws), artifact_url=f"file://{tmp_path}/store/artifacts/x",
                              data_sets=[{"url": f"file://{tmp_path}/store/datasets/p/ds", "path": "data"}],
                              run_succeeded=succeeded, data_set_versions=keep)
    return phases.collect(spec, **QUIET)


def _latest_files(tmp_path: Path) -> dict[str, str]:
    found = datasets.latest(store.locate(f"file://{tmp_path}/store/datasets/p/ds"))
    assert found is not None
    version, manifest = found
    base = tmp_path / "store" / "datasets" / "p" / "ds" / version.name / "files"
    return {r.path: (base / r.path).read_text() for r in manifest.files}


def test_a_failed_producer_run_publishes_nothing_and_the_previous_version_stays_latest(tmp_path: Path) -> None:
    first = _producer_run(tmp_path, {"a.csv": "1\n"}, succeeded=True)
    failed = _producer_run(tmp_path, {"a.csv": "partial\n"}, succeeded=False)
    assert failed["data_sets"] == []
    assert _latest_files(tmp_path) == {"a.csv": "1\n"}
    versions = datasets.committed_versions(store.locate(f"file://{tmp_path}/store/datasets/p/ds"))
    assert [v.name for v in versions] == [first["data_sets"][0]["version"]]


def test_two_successful_runs_give_two_versions_and_a_deleted_file_is_absent_from_the_second(tmp_path: Path) -> None:
    one = _producer_run(tmp_path, {"a.csv": "1\n", "old.csv": "gone soon\n"}, succeeded=True)
    two = _producer_run(tmp_path, {"a.csv": "2\n", "sub/b.csv": "b\n"}, succeeded=True)
    loc = store.locate(f"file://{tmp_path}/store/datasets/p/ds")
    names = [v.name for v in datasets.committed_versions(loc)]
    assert names == [one["data_sets"][0]["version"], two["data_sets"][0]["version"]]
    assert names[0].startswith("v000001-") and names[1].startswith("v000002-")
    assert _latest_files(tmp_path) == {"a.csv": "2\n", "sub/b.csv": "b\n"}


def test_older_versions_are_kept_up_to_the_count_and_dead_attempts_are_removed(tmp_path: Path) -> None:
    loc = store.locate(f"file://{tmp_path}/store/datasets/p/ds")
    runs = [_producer_run(tmp_path, {"a.csv": f"{i}\n"}, succeeded=True, keep=2)["data_sets"][0]["version"]
            for i in range(2)]
    dead = tmp_path / "store" / "datasets" / "p" / "ds" / "v000003-deadbeef"
    (dead / "files").mkdir(parents=True)
    (dead / "files" / "a.csv").write_text("half\n")
    assert [v.name for v in datasets.committed_versions(loc)] == runs  # the dead one is not a version
    last = _producer_run(tmp_path, {"a.csv": "4\n"}, succeeded=True, keep=2)["data_sets"][0]["version"]
    assert last.startswith("v000004-")
    assert sorted(p.name for p in (tmp_path / "store" / "datasets" / "p" / "ds").iterdir()) == [runs[1], last]


def test_a_data_set_on_a_local_store_is_linked_read_only_not_copied(tmp_path: Path) -> None:
    _producer_run(tmp_path, {"a.csv": "1\n", "sub/b.csv": "b\n"}, succeeded=True)
    ws = tmp_path / "consumer"
    spec = phases.ProvisionSpec(workspace=str(ws), data_sets=[
        {"url": f"file://{tmp_path}/store/datasets/p/ds", "path": "input"}])
    result = phases.provision(spec, **QUIET)
    assert result["data_sets"][0]["linked"] is True and result["data_sets"][0]["files"] == 2
    assert os.path.islink(ws / "input")
    assert os.path.realpath(ws / "input").startswith(str(tmp_path / "store" / "datasets" / "p" / "ds"))
    assert (ws / "input" / "sub" / "b.csv").read_text() == "b\n"
    # Read-only for everyone (the tests run as root, who could write anyway: check the modes).
    for path in (ws / "input" / "a.csv", ws / "input" / "sub", ws / "input" / "sub" / "b.csv", ws / "input"):
        assert os.stat(path).st_mode & 0o222 == 0, path
    # A linked data set is an input: never saved as a changed file.
    collected = phases.collect(phases.CollectSpec(workspace=str(ws), artifact_url=f"file://{tmp_path}/out",
                                                  save_changed_files=True), **QUIET)
    assert collected["artifacts"] == []


def test_a_data_set_is_linked_file_by_file_into_a_folder_the_project_already_has(tmp_path: Path) -> None:
    _producer_run(tmp_path, {"a.csv": "1\n"}, succeeded=True)
    ws = tmp_path / "consumer"
    (ws / "input").mkdir(parents=True)
    (ws / "input" / ".gitkeep").write_text("")
    phases.provision(phases.ProvisionSpec(workspace=str(ws), data_sets=[
        {"url": f"file://{tmp_path}/store/datasets/p/ds", "path": "input"}]), **QUIET)
    assert os.path.islink(ws / "input" / "a.csv") and not os.path.islink(ws / "input")
    assert workspace.changed_files(str(ws), workspace.read_manifest(str(ws))) == []


def test_a_data_set_is_copied_when_asked_with_its_digests_in_the_manifest(tmp_path: Path) -> None:
    _producer_run(tmp_path, {"a.csv": "1\n"}, succeeded=True)
    ws = tmp_path / "consumer"
    phases.provision(phases.ProvisionSpec(workspace=str(ws), data_sets_by_reference=False, data_sets=[
        {"url": f"file://{tmp_path}/store/datasets/p/ds", "path": "input"}]), **QUIET)
    assert not os.path.islink(ws / "input") and (ws / "input" / "a.csv").read_text() == "1\n"
    assert workspace.read_manifest(str(ws)).files["input/a.csv"] == workspace.Entry(2, _sha(b"1\n"))


def test_a_data_set_is_linked_into_the_stores_shared_volume_where_the_executor_mounts_it(tmp_path: Path) -> None:
    # Kubernetes with [taskspec] data_set_volume_claim: the provision pod finds the version through the store
    # and links the workspace path into the volume's mount path (here a folder standing for that mount).
    _producer_run(tmp_path, {"a.csv": "1\n", "sub/b.csv": "b\n"}, succeeded=True)
    mount = tmp_path / "mnt"
    mount.symlink_to(tmp_path / "store", target_is_directory=True)
    ws = tmp_path / "consumer"
    result = phases.provision(phases.ProvisionSpec(
        workspace=str(ws), data_sets_by_reference=False,
        data_sets_mounted={"store": f"file://{tmp_path}/store", "path": str(mount)},
        data_sets=[{"url": f"file://{tmp_path}/store/datasets/p/ds", "path": "input"}]), **QUIET)
    version = result["data_sets"][0]["version"]
    assert result["data_sets"][0]["linked"] is True and result["data_sets"][0]["files"] == 2
    assert os.readlink(ws / "input") == f"{mount}/datasets/p/ds/{version}/files"  # no copy
    assert (ws / "input" / "sub" / "b.csv").read_text() == "b\n"
    assert workspace.read_manifest(str(ws)).linked == ["input"] and workspace.read_manifest(str(ws)).files == {}
    collected = phases.collect(phases.CollectSpec(workspace=str(ws), artifact_url=f"file://{tmp_path}/out",
                                                  save_changed_files=True), **QUIET)
    assert collected["artifacts"] == []


def test_a_data_set_outside_the_mounted_store_is_still_copied(tmp_path: Path) -> None:
    _producer_run(tmp_path, {"a.csv": "1\n"}, succeeded=True)
    ws = tmp_path / "consumer"
    phases.provision(phases.ProvisionSpec(
        workspace=str(ws), data_sets_by_reference=False,
        data_sets_mounted={"store": f"file://{tmp_path}/elsewhere", "path": "/taskspec/store"},
        data_sets=[{"url": f"file://{tmp_path}/store/datasets/p/ds", "path": "input"}]), **QUIET)
    assert not os.path.islink(ws / "input") and (ws / "input" / "a.csv").read_text() == "1\n"


def test_staging_a_data_set_without_a_complete_version_says_so(tmp_path: Path) -> None:
    (tmp_path / "store" / "datasets" / "p" / "ds" / "v000001-abcd" / "files").mkdir(parents=True)
    with pytest.raises(datasets.DataSetMissing, match="has no complete version"):
        datasets.stage(store.locate(f"file://{tmp_path}/store/datasets/p/ds"), str(tmp_path / "ws"), "in")


class _Flaky:
    """fs.cat_file failing with the given errors first."""

    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return b"ok"


FAST = store.Retry(attempts=4, first_delay=0.001, max_delay=0.002)


def test_transient_store_errors_are_retried_with_backoff() -> None:
    flaky = _Flaky([ConnectionResetError("reset"), OSError(errno.EBUSY, "SlowDown"), TimeoutError("slow")])
    lines: list[str] = []
    assert store.retrying("reading x", flaky, lines.append, FAST) == b"ok"
    assert flaky.calls == 4 and len(lines) == 3 and "trying again" in lines[0]


def test_permanent_errors_and_too_many_transient_ones_are_raised() -> None:
    missing = _Flaky([FileNotFoundError("no such key")])
    with pytest.raises(FileNotFoundError):
        store.retrying("reading x", missing, None, FAST)
    assert missing.calls == 1
    always = _Flaky([ConnectionError(str(i)) for i in range(10)])
    with pytest.raises(ConnectionError, match="3"):
        store.retrying("reading x", always, None, FAST)
    assert always.calls == 4


def test_layout_has_readable_names_per_project_task_run_and_step() -> None:
    run = "manual__2026-11-21T10:00:00+00:00"
    assert layout.artifact_url("s3://b/p", "house_prices.compare", run, "compare") == (
        "s3://b/p/artifacts/house_prices/compare/manual__2026-11-21T10-00-00+00-00/compare")
    assert layout.exchange_url("s3://b/p", "peach", run, "t 1") == (
        "s3://b/p/runs/peach/manual__2026-11-21T10-00-00+00-00/t_1/handoff")
    assert layout.dataset_url("file:///s", "house_prices", "listings") == "file:///s/datasets/house_prices/listings"
    assert layout.project_url("file:///s/", "ab12") == "file:///s/projects/ab12"


def test_the_output_table_lists_path_size_and_digest() -> None:
    text = report.table("collect: saved artifacts", "s3://b/a", [
        {"path": "models/knn.json", "size": 2048, "sha256": "0123456789abcdef" * 4, "url": "s3://b/a/files/x"},
        {"path": "r.txt", "size": 3, "sha256": "f" * 64, "url": "s3://b/a/files/r.txt"},
    ])
    assert text.splitlines() == [
        "collect: saved artifacts: 2 files, 2.0 KiB -> s3://b/a",
        "  path             size     sha256",
        "  models/knn.json  2.0 KiB  0123456789ab",
        "  r.txt                3 B  ffffffffffff",
    ]
    assert report.table("t", "u", []) == "t: 0 files, 0 B -> u"


def test_store_round_trip_through_memory_filesystem(tmp_path: Path) -> None:
    src = tmp_path / "src"
    rels = _files(src, 3)
    dest = store.locate("memory://bucket/run1")
    done = publish.publish(str(src), rels, dest)
    assert publish.read_manifest(dest) == done and not dest.is_local
    assert sorted(store.list_files(dest.child("files"))) == rels
    publish.fetch(done, dest, str(tmp_path / "dst"))
    assert workspace.walk_files(str(tmp_path / "dst")) == rels
    store.write_bytes(dest.child("result.json"), b"[]")
    assert store.read_bytes(dest.child("result.json")) == b"[]"
    with pytest.raises(FileNotFoundError):
        store.read_bytes(dest.child("missing.json"))


def test_tree_digest_changes_with_content_only(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    before = workspace.tree_digest(str(project))
    (project / ".git" / "HEAD").write_text("other\n")
    assert workspace.tree_digest(str(project)) == before
    (project / "data.csv").write_text("changed\n")
    assert workspace.tree_digest(str(project)) != before


def test_inputs_are_staged_from_urls_inline_content_and_typed_values(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    (remote / "images" / "sub").mkdir(parents=True)
    (remote / "images" / "a.tif").write_bytes(b"A")
    (remote / "images" / "sub" / "b.tif").write_bytes(b"BB")
    (remote / "config.json").write_text('{"k": 1}')
    ws = tmp_path / "ws"
    spec = phases.ProvisionSpec(workspace=str(ws), inputs=[
        {"name": "images", "url": f"file://{remote}/images", "path": "data/images"},
        {"name": "config", "url": f"file://{remote}/config.json", "path": "conf/config.json"},
        {"name": "notes", "content": "hello\n", "path": "notes.txt"},
        {"name": "threshold", "type": "number", "value": 0.5},
        {"name": "label", "type": "string", "value": "cat"},
        {"name": "flag", "type": "boolean", "value": True},
        {"name": "sizes", "type": "array", "value": [1, 2]},
        {"name": "mask", "type": "file", "value": "P1\n1 1\n0\n"},
    ])
    result = phases.provision(spec, **QUIET)
    assert (ws / "data" / "images" / "sub" / "b.tif").read_bytes() == b"BB"
    assert (ws / "conf" / "config.json").read_text() == '{"k": 1}'
    assert (ws / "notes.txt").read_text() == "hello\n"
    assert {p.name: p.read_text() for p in (ws / "inputs").iterdir()} == {
        "threshold": "0.5", "label": "cat", "flag": "true", "sizes": "[1, 2]", "mask": "P1\n1 1\n0\n"}
    assert result["inputs"][0] == {"name": "images", "path": "data/images", "files": 2}
    # Inputs are provisioned, not outputs: nothing of them counts as changed.
    assert workspace.changed_files(str(ws), workspace.read_manifest(str(ws))) == []


def test_an_input_path_may_not_leave_the_workspace(tmp_path: Path) -> None:
    spec = phases.ProvisionSpec(workspace=str(tmp_path / "ws"),
                                inputs=[{"name": "x", "content": "", "path": "../x"}])
    with pytest.raises(ValueError, match="input 'x': path '../x' leaves the workspace"):
        phases.provision(spec, **QUIET)


def test_declared_outputs_are_saved_listed_and_delivered_to_their_urls(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    for rel in ("out/a.json", "out/deep/b.json", "report.html", "log.txt"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(rel)
    spec = phases.CollectSpec(workspace=str(ws), artifact_url=f"file://{tmp_path}/store/a", outputs=[
        {"path": "report.html", "url": f"file://{tmp_path}/delivered/report.html"},
        {"path": "out/**/*.json", "url": f"file://{tmp_path}/delivered/json"},
        {"path": "log.txt"},
        {"path": "missing.csv"},
    ])
    lines: list[str] = []
    result = phases.collect(spec, log=lines.append)
    assert [r["path"] for r in result["artifacts"]] == ["log.txt", "out/a.json", "out/deep/b.json", "report.html"]
    assert (tmp_path / "delivered" / "report.html").read_text() == "report.html"
    assert (tmp_path / "delivered" / "json" / "deep" / "b.json").read_text() == "out/deep/b.json"
    outputs = {o["path"]: o["files"] for o in result["outputs"]}
    assert outputs["out/**/*.json"][1]["delivered_to"] == f"file://{tmp_path}/delivered/json/deep/b.json"
    assert outputs["log.txt"][0]["url"] == f"file://{tmp_path}/store/a/files/log.txt"
    assert outputs["missing.csv"] == []
    assert "collect: output 'missing.csv' matched no file in the workspace" in lines
