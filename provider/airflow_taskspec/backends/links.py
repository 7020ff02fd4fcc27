"""Extra links of a step's task instance: where a user finds what that try saved, from the task's page.

Airflow 3 computes an operator's links on the worker when the try ends and keeps each one in an XCom
(``_link_<class name>``); the API server and the UI read it back per task instance. So each link below is
that try's own: the UI page of its output manifest, and the artifact-store folder it published.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

MANIFEST_XCOM = "output_manifest"  # pushed by each backend's collect phase (docs/storage.md)


def output_manifest(ti_key: Any) -> dict[str, Any] | None:
    """The output manifest this try's collect pushed, or None (collect had nothing to do, or did not run)."""
    if hasattr(ti_key, "xcom_pull"):  # the worker, at the end of the try (RuntimeTaskInstance)
        found = ti_key.xcom_pull(task_ids=ti_key.task_id, key=MANIFEST_XCOM, map_indexes=ti_key.map_index)
    else:
        from airflow.sdk.execution_time.xcom import XCom

        found = XCom.get_value(ti_key=ti_key, key=MANIFEST_XCOM)
    return found if isinstance(found, dict) else None


def task_instance_page(ti_key: Any, tab: str) -> str:
    """The UI page of one task instance (absolute when ``[api] base_url`` is set)."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    path = f"/dags/{quote(ti_key.dag_id, safe='')}/runs/{quote(ti_key.run_id, safe='')}/tasks/" \
           f"{quote(ti_key.task_id, safe='')}"
    if getattr(ti_key, "map_index", -1) is not None and getattr(ti_key, "map_index", -1) >= 0:
        path += f"/mapped/{ti_key.map_index}"
    return f"{base}{path}/{tab}"


class StepOutputsLink(BaseOperatorLink):
    """The task instance's XCom page, where its output manifest lists every saved file (URL, path, size,
    sha256); empty when the step saved nothing."""

    name = "Outputs (manifest)"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return task_instance_page(ti_key, "xcom") if output_manifest(ti_key) is not None else ""


class StepArtifactStoreLink(BaseOperatorLink):
    """The artifact-store folder this run's step published (its ``manifest.json`` and ``files/``)."""

    name = "Artifact store"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        manifest = output_manifest(ti_key)
        return str(manifest.get("artifact_url") or "") if manifest else ""


LINKS = (StepOutputsLink, StepArtifactStoreLink)
