"""`taskspec gc`: delete taskspec pods and PVCs older than a given age, found by label.

Teardown tasks delete what a task run created; this catches what they could not (a DAG run deleted from the
database, a teardown that never ran). Pods that are still Pending or Running are deleted too once older than
the limit: choose a limit above your longest task.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiException

from . import k8s_names

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``30m``, ``6h``, ``2d``."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration; write a number and s, m, h or d (e.g. 6h)")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Leftover:
    kind: str  # "pod" or "pvc"
    name: str
    age: dt.timedelta


def _age(obj: Any, now: dt.datetime) -> dt.timedelta:
    created = obj.metadata.creation_timestamp
    if created is None:
        return dt.timedelta(0)
    if isinstance(created, str):
        created = dt.datetime.fromisoformat(created)
    age: dt.timedelta = now - created
    return age


def find_leftovers(
    core: Any, namespace: str, older_than: dt.timedelta, now: dt.datetime | None = None
) -> list[Leftover]:
    now = now or dt.datetime.now(dt.UTC)
    wanted = {k8s_names.MANAGED_BY: k8s_names.MANAGER}
    found: list[Leftover] = []
    for kind, lister in (
        ("pod", core.list_namespaced_pod),
        ("pvc", core.list_namespaced_persistent_volume_claim),
    ):
        for obj in lister(namespace=namespace, label_selector=k8s_names.selector(wanted)).items:
            age = _age(obj, now)
            if k8s_names.matches(obj.metadata.labels, wanted) and age > older_than:
                found.append(Leftover(kind, obj.metadata.name, age))
    return found


def collect_garbage(
    core: Any,
    namespace: str,
    older_than: dt.timedelta,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> list[Leftover]:
    """Delete (pods first, then PVCs) and return what was old enough; 404 means someone was faster."""
    leftovers = find_leftovers(core, namespace, older_than, now)
    if dry_run:
        return leftovers
    for item in leftovers:
        delete = (
            core.delete_namespaced_pod
            if item.kind == "pod"
            else core.delete_namespaced_persistent_volume_claim
        )
        try:
            delete(name=item.name, namespace=namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
    return leftovers
