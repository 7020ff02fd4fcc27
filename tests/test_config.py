"""``settings()`` reads every field of ``Settings`` as the option of that name, by the type ``OPTIONS`` declares."""

from __future__ import annotations

import dataclasses

import pytest
from airflow_taskspec import config

VALUES = {"string": ("some-text", "some-text"), "integer": ("5", 5), "float": ("0.25", 0.25),
          "boolean": ("yes", True)}


def test_every_setting_is_a_declared_option_read_by_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {}
    for field in dataclasses.fields(config.Settings):
        kind = config.OPTIONS[field.name][0]
        raw, value = VALUES[kind]
        if field.name == "backend":
            raw, value = "kubernetes", "kubernetes"
        elif field.type in ("dict[str, str]", "list[dict[str, Any]]"):
            raw, value = ('{"k": "v"}', {"k": "v"}) if field.type.startswith("dict") else ('[{"k": "v"}]', [{"k": "v"}])
        elif field.name == "env_passthrough":
            raw, value = "A, B_*", ("A", "B_*")
        monkeypatch.setenv(f"AIRFLOW__TASKSPEC__{field.name.upper()}", raw)
        expected[field.name] = value
    assert dataclasses.asdict(config.settings()) == expected


@pytest.mark.parametrize("name, raw, says", [
    ("fs_group", "many", "is not a whole number"),
    ("pod_poll_interval", "-1", "must not be negative"),
    ("deferrable", "perhaps", "is not true or false"),
    ("tolerations", "{}", "must be a JSON list"),
    ("data_set_versions", "0", "must be at least 1"),
])
def test_a_bad_option_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, raw: str,
                                                  says: str) -> None:
    monkeypatch.setenv(f"AIRFLOW__TASKSPEC__{name.upper()}", raw)
    with pytest.raises(config.ConfigError, match=f"{name} .*{says}"):
        config.settings()
