"""Kubernetes names and labels for taskspec objects: pure functions, no Kubernetes client, no Airflow.

Every pod and PVC carries the same labels (manager, DAG, run, step, try; pods also their phase), so the run's
teardown and `taskspec gc` can find them whatever happened to the worker that created them.
"""

from __future__ import annotations

import hashlib
import re

LABEL_DAG = "taskspec.io/dag-id"
LABEL_RUN = "taskspec.io/run-id"
LABEL_TASK = "taskspec.io/task"
LABEL_TRY = "taskspec.io/try"
LABEL_PHASE = "taskspec.io/phase"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "taskspec"

MAX_LABEL_VALUE = 63
MAX_NAME = 63

_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _hash(*parts: str, length: int = 10) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def is_label_value(text: str) -> bool:
    return len(text) <= MAX_LABEL_VALUE and bool(_LABEL_VALUE.match(text))


def is_dns_label(text: str) -> bool:
    """RFC 1123 label: pod names we choose, PVC names, container names."""
    return len(text) <= MAX_NAME and bool(_DNS_LABEL.match(text))


def is_dns_subdomain(text: str) -> bool:
    """RFC 1123 subdomain: what a Secret or pod name may be."""
    return len(text) <= 253 and bool(_DNS_SUBDOMAIN.match(text))


def is_env_name(text: str) -> bool:
    return bool(_ENV_NAME.match(text))


def label_value(text: str) -> str:
    """``text`` as a label value; anything changed or cut gets a hash suffix so distinct values stay distinct."""
    if is_label_value(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)
    cleaned = cleaned[: MAX_LABEL_VALUE - 11].strip("-_.")
    return f"{cleaned}-{_hash(text)}" if cleaned else _hash(text)


def slug(text: str, limit: int) -> str:
    """Lower-case DNS-1123 fragment of at most ``limit`` characters (may be empty)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:limit].strip("-")


def dns_name(prefix: str, *parts: str, readable: str, limit: int = MAX_NAME) -> str:
    """A deterministic DNS-1123 label: prefix, a readable slug, then a hash of every part."""
    digest = _hash(*parts)
    room = limit - len(prefix) - len(digest) - 2
    middle = slug(readable, room)
    return "-".join(p for p in (prefix, middle, digest) if p)


def claim_name(dag_id: str, run_id: str, task: str, try_number: int) -> str:
    """The workspace PVC of one try of one step of one DAG run. A new try gets a new one: a retried or
    cleared step starts in a fresh workspace, even while the last try's PVC is still being deleted."""
    return dns_name("ts", dag_id, run_id, task, str(try_number), readable=f"{task}-{dag_id}")


def pod_base_name(task: str, phase: str) -> str:
    """What the KubernetesPodOperator gets as ``name``; it appends a random suffix (9 characters)."""
    return f"{slug(task, 40) or 'task'}-{phase}"


def run_labels(dag_id: str, run_id: str, task: str) -> dict[str, str]:
    return {
        MANAGED_BY: MANAGER,
        LABEL_DAG: label_value(dag_id),
        LABEL_RUN: label_value(run_id),
        LABEL_TASK: label_value(task),
    }


def step_labels(dag_id: str, run_id: str, task: str, try_number: int) -> dict[str, str]:
    return {**run_labels(dag_id, run_id, task), LABEL_TRY: str(try_number)}


def dag_run_labels(dag_id: str, run_id: str) -> dict[str, str]:
    """What every object of one DAG run carries, whichever step made it (the run's teardown)."""
    return {MANAGED_BY: MANAGER, LABEL_DAG: label_value(dag_id), LABEL_RUN: label_value(run_id)}


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def matches(object_labels: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    """Client-side check of a label selector (some fake API servers ignore selectors)."""
    have = object_labels or {}
    return all(have.get(k) == v for k, v in wanted.items())
