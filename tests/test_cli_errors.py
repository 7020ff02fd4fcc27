"""`taskspec` never shows a traceback for bad input or configuration: one line on stderr, a non-zero exit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from airflow_taskspec import config

from tests.conftest import BIN, EXAMPLES


def taskspec(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "taskspec"), *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **env})


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("command", ["validate", "list", "render"])
def test_a_path_that_does_not_exist(command: str, tmp_path: Path) -> None:
    assert_one_line_error(taskspec(command, str(tmp_path / "nope")), f"taskspec {command}: no such file or folder",
                          str(tmp_path / "nope"))


def test_malformed_json_option() -> None:
    proc = taskspec("render", str(EXAMPLES), AIRFLOW__TASKSPEC__TOLERATIONS="[{oops")
    assert_one_line_error(proc, "bad configuration", "[taskspec] tolerations", "not valid JSON",
                          "AIRFLOW__TASKSPEC__TOLERATIONS")


def test_gc_without_a_kube_config(tmp_path: Path) -> None:
    proc = taskspec("gc", "--older-than", "1h", KUBECONFIG=str(tmp_path / "none"))
    assert_one_line_error(proc, "taskspec gc: no Kubernetes configuration found", "KUBECONFIG")


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("node_selector", "[1, 2]", "must be a JSON object"),
    ("tolerations", "{}", "must be a JSON list"),
    ("startup_timeout_seconds", "soon", "is not a whole number"),
    ("pod_poll_interval", "-1", "must not be negative"),
    ("deferrable", "maybe", "is not true or false"),
    ("backend", "docker", "use 'local' or 'kubernetes'"),
    ("data_set_versions", "0", "must be at least 1"),
    ("data_set_versions", "all", "is not a whole number"),
])
def test_each_bad_option_names_itself_and_where_to_fix_it(option: str, value: str, expected: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"AIRFLOW__TASKSPEC__{option.upper()}", value)
    with pytest.raises(config.ConfigError) as caught:
        config.settings()
    assert expected in str(caught.value) and f"AIRFLOW__TASKSPEC__{option.upper()}" in str(caught.value)


@pytest.mark.parametrize("command", ["validate", "list", "render"])
def test_a_folder_without_spec_files(command: str, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("# not a spec\n")
    (tmp_path / "notes" / "ame.yaml.bak").write_text("name: old\n")
    assert_one_line_error(taskspec(command, str(tmp_path)), f"taskspec {command}: no spec file (ame.yaml, ame.yml",
                          str(tmp_path))


@pytest.mark.parametrize("command", [["list", str(EXAMPLES)], ["schema", "peach"]])
def test_a_reader_that_went_away_gets_no_error_message(command: list[str]) -> None:
    """`taskspec list dags | head -1`: once the reader has closed the pipe, nothing about a broken pipe is
    printed and the exit status is SIGPIPE's, as `cat` gives. The read end is closed before the command writes
    anything, so its first write fails whatever the size of the output."""
    proc = subprocess.Popen([str(BIN / "taskspec"), *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    status = proc.wait(timeout=120)
    assert proc.stderr.read().decode() == ""
    assert status == 141


def test_a_named_pipe_where_a_spec_file_or_notebook_belongs_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer: the whole folder's parse would wait with it, and every
    other project's DAGs would be gone until Airflow's parse timeout. It is reported, never read."""
    from tests.notebooks import write_notebook

    good, pipe, news = tmp_path / "good", tmp_path / "pipe", tmp_path / "news"
    for folder in (good, pipe, news):
        folder.mkdir()
    (good / "ame.yml").write_text("name: good\ntasks:\n  - name: t\n    executor: !custom\n      command: echo hi\n")
    os.mkfifo(pipe / "ame.yml")
    (news / "peach.yaml").write_text("codops: zzebu\ntasks:\n  rank:\n    notebook: nb.ipynb\n    method: rank\n"
                                     "  words:\n    notebook: words.ipynb\n    method: words\n")
    os.mkfifo(news / "nb.ipynb")
    write_notebook(news / "words.ipynb", ["def words():\n    return 1\n"])

    proc = taskspec("validate", str(tmp_path), TASKSPEC_COMPILE_CACHE_DIR="off")  # a hang fails: timeout

    said = proc.stdout + proc.stderr
    assert proc.returncode == 1, said
    assert "Traceback" not in said
    assert (f"{pipe / 'ame.yml'}:1:1: error: cannot read the file: it is a named pipe (FIFO); only regular files "
            "are read\n    hint: replace it with a file, or list it in .airflowignore") in said
    assert (f"{news / 'peach.yaml'}:4:15: error: notebook nb.ipynb cannot be read: it is a named pipe (FIFO); "
            "only regular files are read") in said
    listed = taskspec("list", str(tmp_path), TASKSPEC_COMPILE_CACHE_DIR="off")
    assert "good.t" in listed.stdout, listed.stdout + listed.stderr


def test_a_dangling_link_where_a_spec_file_belongs_says_where_it_points(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "ame.yml").symlink_to(tmp_path / "elsewhere" / "ame.yml")
    proc = taskspec("validate", str(tmp_path), TASKSPEC_COMPILE_CACHE_DIR="off")
    assert proc.returncode == 1
    assert (f"{tmp_path / 'shop' / 'ame.yml'}:1:1: error: cannot read the file: it is a symbolic link to "
            f"'{tmp_path / 'elsewhere' / 'ame.yml'}', which does not exist\n"
            "    hint: point the link at the spec file, or remove it") in proc.stdout + proc.stderr
