"""Which files are read: `.airflowignore` as Airflow itself matches it (glob with negation and `**`, or regexp
per `[core] dag_ignore_file_syntax`), and the file names each dialect claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_taskspec import compile_cache, resolve

PROJECTS = ("keep", "drop_one", "drop_two", "nested/deep/drop_three", "nested/deep/keep_too")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(compile_cache.CACHE_ENV, "off")
    for project in PROJECTS:
        name = project.rsplit("/", 1)[-1]
        (tmp_path / project).mkdir(parents=True)
        (tmp_path / project / "ame.yaml").write_text(
            f"name: {name}\ntasks:\n  - name: t\n    executor: !custom\n      command: x\n")
    return tmp_path


def projects(folder: Path) -> list[str]:
    return sorted(w.dag_id.split(".")[0] for w in resolve.compile_paths([str(folder)]).workflows)


def test_glob_negation_brings_a_folder_back(folder: Path) -> None:
    (folder / ".airflowignore").write_text("drop_*\n!drop_two\n")  # a name without `/` matches at any depth
    assert projects(folder) == ["drop_two", "keep", "keep_too"]


def test_glob_double_star_and_patterns_relative_to_the_ignore_file(folder: Path) -> None:
    (folder / ".airflowignore").write_text("**/deep/drop_*\n/drop_one\n")
    (folder / "nested" / ".airflowignore").write_text("# a comment line\n")
    assert projects(folder) == ["drop_two", "keep", "keep_too"]


def test_regexp_syntax_when_airflow_is_configured_for_it(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX", "regexp")
    (folder / ".airflowignore").write_text(r"drop_(one|three)" + "\n")
    assert projects(folder) == ["drop_two", "keep", "keep_too"]


def test_hidden_folders_and_files_of_other_names_are_not_read(folder: Path) -> None:
    (folder / ".git" / "p").mkdir(parents=True)
    (folder / ".git" / "p" / "ame.yaml").write_text("name: hidden\ntasks: []\n")
    (folder / "keep" / "ame.yaml.bak").write_text("name: backup\n")
    (folder / "keep" / "not_ame.yaml").write_text("name: other\n")
    c = resolve.compile_paths([str(folder)])
    assert projects(folder) == ["drop_one", "drop_three", "drop_two", "keep", "keep_too"] and c.errors == {}


def test_a_file_no_dialect_reads_named_on_the_command_line_is_an_error(folder: Path) -> None:
    other = folder / "keep" / "project.yaml"
    other.write_text("name: x\n")
    c = resolve.compile_paths([str(other)])
    assert c.workflows == []
    assert c.errors[str(other)].diagnostics[0].format().splitlines()[0] == \
        f"{other}:1:1: error: no dialect reads a file of this name"
    assert "ame.yaml, ame.yml" in c.errors[str(other)].diagnostics[0].hint


def test_a_link_back_up_the_folder_is_named_and_airflowignore_lifts_it(folder: Path) -> None:
    (folder / "keep" / "up").symlink_to(folder, target_is_directory=True)
    c = resolve.compile_paths([str(folder)])
    link = str(folder / "keep" / "up")
    assert c.workflows == [] and list(c.errors) == [link]  # Airflow refuses the whole folder, so do we
    said = c.errors[link].diagnostics[0]
    assert said.message.startswith(f"this link leads to {folder.resolve()}, which the walk of {folder} already "
                                   f"reached as {folder};")
    assert ".airflowignore" in said.hint
    (folder / ".airflowignore").write_text("keep/up\n")
    assert projects(folder) == ["drop_one", "drop_three", "drop_two", "keep", "keep_too"]


def test_two_links_to_one_folder_name_the_second_and_the_first(folder: Path, tmp_path_factory) -> None:
    shared = tmp_path_factory.mktemp("shared")
    (folder / "drop_one" / "lib").symlink_to(shared, target_is_directory=True)
    (folder / "keep" / "lib").symlink_to(shared, target_is_directory=True)
    c = resolve.compile_paths([str(folder)])
    second = str(folder / "keep" / "lib")
    assert list(c.errors) == [second]
    assert f"already reached as {folder / 'drop_one' / 'lib'};" in c.errors[second].diagnostics[0].message
