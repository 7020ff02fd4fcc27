"""Hostile YAML is that file's error, found fast and with its place, never a crash or a hang of the loader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from airflow_taskspec.dialects import yaml as spec_yaml
from airflow_taskspec.errors import SpecError

from tests.conftest import BIN

NESTED_ALIASES = "name: bomb\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefg", "bcdefgh", strict=True)
) + "tasks: *h\n"


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        spec_yaml.load("f.yaml", text)
    return caught.value.format()


def test_an_alias_inside_its_own_anchor_is_rejected_with_its_place() -> None:
    assert error_of("name: r\ntasks: &a [*a]\n").startswith("f.yaml:2:8: error: this YAML anchor contains an alias")
    assert error_of("name: r\nt: &m {k: *m}\n").startswith("f.yaml:2:4: error: this YAML anchor contains an alias")


def test_an_alias_bomb_is_rejected_instead_of_expanded() -> None:
    # 9**8 (43 million) values once expanded; the loader stops at its budget.
    message = error_of(NESTED_ALIASES)
    assert "more than 200,000 values once its YAML aliases are expanded" in message
    assert message.startswith("f.yaml:2:")


def test_aliases_within_the_budget_still_expand() -> None:
    doc = spec_yaml.load("f.yaml", "name: ok\nbase: &b {cpu: '1'}\nx: [*b, *b]\n")
    assert doc.data["x"] == [{"cpu": "1"}, {"cpu": "1"}]


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_nesting_is_an_error_not_a_crash(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    message = error_of("name: d\ntasks: " + opening * 50_000 + closing * 50_000 + "\n")
    assert message.startswith("f.yaml:2:") and "nested more than 200 levels deep" in message


def test_block_nesting_is_bounded_too() -> None:
    text = "name: d\ntasks:\n" + "".join(" " * (2 * i) + f"k{i}:\n" for i in range(1, 260))
    assert "nested more than 200 levels deep" in error_of(text)


def test_a_huge_file_is_rejected_unread() -> None:
    message = error_of("name: big\nx: '" + "a" * 6_000_000 + "'\n")
    assert message.startswith("f.yaml:1:1: error: the file has 6,000,0")


def test_validate_reports_hostile_files_and_still_compiles_the_good_one(tmp_path: Path) -> None:
    files = {
        "recursive": "name: recursive\ntasks: &a [*a]\n",
        "bomb": NESTED_ALIASES,
        "deep": "name: deep\ntasks: " + "[" * 100_000 + "]" * 100_000 + "\n",  # crashed libyaml's composer
        "good": "name: good\ntasks:\n  - name: t\n    executor: !custom\n      command: 'true'\n",
    }
    for name, text in files.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "ame.yaml").write_text(text)
    proc = subprocess.run([str(BIN / "taskspec"), "validate", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for name in ("recursive", "bomb", "deep"):
        assert f"{tmp_path / name / 'ame.yaml'}:2:" in proc.stderr
    assert "1 DAG(s) compiled, 3 file(s) with errors" in proc.stderr


@pytest.mark.parametrize(("text", "expected"), [
    ("A: null\n", "1:1: error: missing required key 'name'"),  # an unknown capitalised key crashed the mapping
    ("Name: x\n", "1:1: error: unknown key 'Name'"),
    ("name: x\nTasks: []\n", "2:1: error: unknown key 'Tasks'"),
])
def test_capitalised_keys_are_keys_not_pydantic_branch_names(text: str, expected: str, tmp_path: Path) -> None:
    from airflow_taskspec import resolve

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "ame.yaml").write_text(text)
    formatted = [d.format() for d in resolve.compile_paths([str(tmp_path)]).diagnostics()]
    assert any(f.startswith(f"{tmp_path / 'p' / 'ame.yaml'}:{expected}") for f in formatted), formatted
    assert not any("bug in taskspec" in f for f in formatted), formatted
