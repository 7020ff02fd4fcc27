"""Names and labels of taskspec's Kubernetes objects."""

from __future__ import annotations

from airflow_taskspec.backends import k8s_names


def test_label_values_are_valid_and_distinct() -> None:
    run_ids = ["manual__2026-11-21T10:00:00+00:00", "manual__2026-11-21T10_00_00_00_00", "x" * 200, "-odd-"]
    values = [k8s_names.label_value(r) for r in run_ids]
    assert all(k8s_names.is_label_value(v) for v in values)
    assert len(set(values)) == len(values)
    assert (
        k8s_names.label_value("house_prices.train") == "house_prices.train"
    )  # valid values stay as they are


def test_claim_names_are_deterministic_dns_labels_one_per_try() -> None:
    dag, run = "house_prices.train_and_compare", "manual__2026-11-21T10:00:00+00:00"
    name = k8s_names.claim_name(dag, run, "prepare_data", 1)
    assert name == k8s_names.claim_name(dag, run, "prepare_data", 1)
    assert k8s_names.is_dns_label(name) and name.startswith("ts-prepare-data-")
    assert k8s_names.claim_name(dag, "manual__2026-11-21T10:00:01+00:00", "prepare_data", 1) != name
    assert k8s_names.claim_name(dag, run, "prepare_data", 2) != name  # a retry or a clear: a fresh workspace
    long = k8s_names.claim_name("p" * 100 + ".t", "r" * 300, "T" * 100, 1)
    assert k8s_names.is_dns_label(long) and len(long) <= 63


def test_pod_base_names_leave_room_for_the_random_suffix() -> None:
    name = k8s_names.pod_base_name("A_very_long_task_name_" * 5, "provision")
    assert len(name) + 9 <= 63 and k8s_names.is_dns_label(name)


def test_client_side_label_matching() -> None:
    wanted = k8s_names.run_labels("d", "r", "t")
    assert k8s_names.matches({**wanted, "extra": "1"}, wanted)
    assert not k8s_names.matches({**wanted, k8s_names.LABEL_TASK: "u"}, wanted)
    assert not k8s_names.matches(None, wanted)
    assert k8s_names.selector({"b": "2", "a": "1"}) == "a=1,b=2"
    # A try's labels are its step's plus the try; the run's teardown selects on DAG and run only.
    step = k8s_names.step_labels("d", "r", "t", 2)
    assert k8s_names.matches(step, wanted) and step[k8s_names.LABEL_TRY] == "2"
    assert k8s_names.matches(step, k8s_names.dag_run_labels("d", "r"))
    assert not k8s_names.matches(k8s_names.step_labels("d", "r2", "t", 2), k8s_names.dag_run_labels("d", "r"))
