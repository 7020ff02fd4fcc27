"""Packaging: the provider entry point and its [taskspec] config section."""

from __future__ import annotations

import subprocess
from importlib.metadata import entry_points

from airflow_taskspec import config, get_provider_info

from tests.conftest import BIN


def test_entry_point_points_at_get_provider_info() -> None:
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_taskspec")]
    assert ep.load() is get_provider_info
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-taskspec"
    assert set(info["config"]["taskspec"]["options"]) == set(config.OPTIONS)


def test_airflow_config_list_shows_the_section_with_defaults() -> None:
    out = subprocess.run([str(BIN / "airflow"), "config", "list", "--section", "taskspec", "--include-descriptions",
                          "--show-values", "--defaults"], capture_output=True, text=True, check=True).stdout
    assert "[taskspec]" in out
    assert "backend = local" in out
    # braces survive Airflow's formatting of provider defaults
    assert "executor_image = taskspec-executor:py{python_version}" in out


def test_environment_overrides_config(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIRFLOW__TASKSPEC__BACKEND", "kubernetes")
    monkeypatch.setenv("AIRFLOW__TASKSPEC__NODE_SELECTOR", '{"pool": "gpu"}')
    s = config.settings()
    assert s.backend == "kubernetes" and s.node_selector == {"pool": "gpu"}


def test_the_step_operators_extra_links_are_registered_with_airflow() -> None:
    from airflow_taskspec.backends.links import LINKS
    from airflow_taskspec.backends.step import StepOperator

    assert {type(link) for link in StepOperator.operator_extra_links} == set(LINKS)
    out = subprocess.run([str(BIN / "airflow"), "providers", "links"], capture_output=True, text=True,
                         check=True).stdout
    for link in LINKS:
        assert f"{link.__module__}.{link.__name__}" in out, out
