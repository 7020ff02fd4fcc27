"""The runtime: staging a workspace, finding what a task changed, saving to the store."""

from __future__ import annotations

from pathlib import Path

import fsspec.implementations.memory
import pytest
from airflow_taskspec.runtime import layout, phases, store, workspace


def _project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('hi')\n")
    (root / "data.csv").write_text("a,b\n1,2\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    return root


def test_provision_copies_the_project_without_vcs_and_records_a_manifest(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    ws = tmp_path / "ws"
    result = phases.provision(phases.ProvisionSpec(workspace=str(ws), project_url=str(project)), log=lambda *_: None)
    assert result == {"files": 2}
    assert (ws / "src" / "main.py").read_text() == "print('hi')\n"
    assert not (ws / ".git").exists()
    assert set(workspace.read_manifest(str(ws))) == {"src/main.py", "data.csv"}


def test_collect_saves_declared_paths_and_changed_files(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    phases.provision(phases.ProvisionSpec(workspace=str(ws), project_url=str(_project(tmp_path / "p"))),
                     log=lambda *_: None)
    (ws / "data.csv").write_text("a,b\n3,4\n")  # changed
    (ws / "out").mkdir()
    (ws / "out" / "model.bin").write_bytes(b"\x00\x01")  # new
    store_url = f"file://{tmp_path / 'store'}"

    only_paths = phases.collect(phases.CollectSpec(workspace=str(ws), artifact_url=store_url + "/a",
                                                   artifact_paths=["out"]), log=lambda *_: None)
    changed = phases.collect(phases.CollectSpec(workspace=str(ws), artifact_url=store_url + "/b",
                                                save_changed_files=True, exchange_url=store_url + "/x"),
                             log=lambda *_: None)

    assert [r["path"] for r in only_paths] == ["out/model.bin"]
    assert sorted(r["path"] for r in changed) == ["data.csv", "out/model.bin"]
    assert (tmp_path / "store" / "b" / "data.csv").read_text() == "a,b\n3,4\n"
    assert (tmp_path / "store" / "x" / "out" / "model.bin").read_bytes() == b"\x00\x01"
    assert changed[1]["size"] == 2 and changed[1]["url"].endswith("/b/out/model.bin")


def test_an_artifact_path_may_not_leave_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    with pytest.raises(ValueError, match="leaves the workspace"):
        workspace.files_under(str(tmp_path / "ws"), ["../etc"])


def test_store_round_trip_through_memory_filesystem(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.txt").write_text("x")
    store.upload(str(src), ["d/f.txt"], "memory://bucket/run1")
    assert store.exists("memory://bucket/run1")
    assert store.download_tree("memory://bucket/run1", str(tmp_path / "dst")) == ["d/f.txt"]
    assert (tmp_path / "dst" / "d" / "f.txt").read_text() == "x"
    assert store.download_tree("memory://bucket/none", str(tmp_path / "dst2")) == []
    store.write_bytes("memory://bucket/run1/result.json", b"[]")
    assert store.read_bytes("memory://bucket/run1/result.json") == b"[]"
    with pytest.raises(FileNotFoundError):
        store.read_bytes("memory://bucket/run1/missing.json")


def test_layout_names_project_task_and_run() -> None:
    url = layout.artifact_url("s3://b/p", "house_prices.compare", "manual__2026-11-21T10:00:00+00:00", "compare")
    assert url == "s3://b/p/artifacts/house_prices.compare/manual__2026-11-21T10_00_00_00_00/compare"


def test_tree_digest_changes_with_content_only(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    before = workspace.tree_digest(str(project))
    (project / ".git" / "HEAD").write_text("other\n")
    assert workspace.tree_digest(str(project)) == before
    (project / "data.csv").write_text("changed\n")
    assert workspace.tree_digest(str(project)) != before


class FlakyFileSystem(fsspec.implementations.memory.MemoryFileSystem):
    """A store that drops the first ``failures`` uploads (a transient network error), then works."""

    protocol = "flaky"
    failures = 0
    attempts = 0

    def put_file(self, lpath: str, rpath: str, *args: object, **kwargs: object) -> None:
        type(self).attempts += 1
        if type(self).failures > 0:
            type(self).failures -= 1
            raise ConnectionResetError("connection reset by peer")
        super().put_file(lpath, rpath, *args, **kwargs)


@pytest.fixture
def flaky() -> type[FlakyFileSystem]:
    fsspec.register_implementation("flaky", FlakyFileSystem, clobber=True)
    FlakyFileSystem.attempts = 0
    return FlakyFileSystem


def test_collect_retries_transient_store_errors_with_backoff(tmp_path: Path, flaky: type[FlakyFileSystem]) -> None:
    ws = tmp_path / "ws"
    phases.provision(phases.ProvisionSpec(workspace=str(ws)), log=lambda *_: None)
    (ws / "model.bin").write_bytes(b"\x00")
    flaky.failures = 2
    waits: list[float] = []
    lines: list[str] = []
    backoff = store.Backoff(attempts=4, first_delay=0.5, log=lines.append, sleep=waits.append)

    saved = phases.collect(phases.CollectSpec(workspace=str(ws), artifact_url="flaky://b/run", save_changed_files=True),
                           log=lines.append, backoff=backoff)

    assert [r["path"] for r in saved] == ["model.bin"] and flaky.attempts == 3
    assert waits == [0.5, 1.0]  # doubling
    assert "store: uploading model.bin to flaky://b/run failed (ConnectionResetError" in lines[0]
    assert store.read_bytes("flaky://b/run/model.bin") == b"\x00"


def test_collect_gives_up_after_the_last_try_and_never_retries_a_permanent_error(
    tmp_path: Path, flaky: type[FlakyFileSystem]
) -> None:
    ws = tmp_path / "ws"
    phases.provision(phases.ProvisionSpec(workspace=str(ws)), log=lambda *_: None)
    (ws / "model.bin").write_bytes(b"\x00")
    flaky.failures = 10
    spec = phases.CollectSpec(workspace=str(ws), artifact_url="flaky://b/run2", save_changed_files=True)
    with pytest.raises(ConnectionResetError):
        phases.collect(spec, log=lambda *_: None, backoff=store.Backoff(attempts=3, sleep=lambda _: None))
    assert flaky.attempts == 3
    calls: list[int] = []

    def missing() -> None:
        calls.append(1)
        raise FileNotFoundError("no such bucket")

    with pytest.raises(FileNotFoundError):
        store.Backoff(attempts=5, sleep=lambda _: None).run("reading", missing)
    assert calls == [1]
