"""Provision and collect, as plain functions over a workspace folder.

The local backend calls them in the Airflow worker (with the filesystem it built from the artifact store's
Airflow connection); the filer pod calls them through ``python -m airflow_taskspec.runtime``. Both get the
same JSON-able arguments, so both backends stage and save alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from fsspec import AbstractFileSystem

from . import datasets, inputs, publish, report, transfer, workspace
from .store import Location, locate


@dataclass
class ProvisionSpec:
    workspace: str
    project_url: str | None = None  # a folder, or a project snapshot in the store; None: the image has them
    upstream_outputs: list[str] = field(default_factory=list)  # store URLs of earlier pipeline steps' outputs
    data_sets: list[dict[str, str]] = field(default_factory=list)  # {"url": data set, "path": in the workspace}
    store_options: dict[str, Any] = field(default_factory=dict)
    data_sets_by_reference: bool = True  # link instead of copy where the store is a folder this process sees
    inputs: list[dict[str, Any]] = field(default_factory=list)  # see runtime.inputs: url/content/typed value
    # {"store": URL, "path": folder}: the store as the executor sees it (a shared volume); data sets are
    # linked there instead of copied. Absent from the spec unless set, so older filer images keep working.
    data_sets_mounted: dict[str, str] | None = None


@dataclass
class CollectSpec:
    workspace: str
    artifact_url: str
    artifact_paths: list[str] = field(default_factory=list)
    save_changed_files: bool = False
    exchange_url: str | None = None  # where later pipeline steps find this step's changed files
    data_sets: list[dict[str, str]] = field(default_factory=list)  # published: {"url": ..., "path": ...}
    store_options: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, str]] = field(default_factory=list)  # {"path": file/folder/glob, "url"?: copy it there}
    run_succeeded: bool = False  # data sets get a new version only after a successful run: the operator knows
    data_set_versions: int = 3  # committed versions kept per data set
    meta: dict[str, str] = field(default_factory=dict)  # dag_id, run_id, step: recorded in each manifest


def provision(spec: ProvisionSpec, log: Any = print, fs: AbstractFileSystem | None = None) -> dict[str, Any]:
    os.makedirs(spec.workspace, exist_ok=True)

    def at(url: str) -> Location:
        return locate(url, spec.store_options, fs)

    staged = 0
    if spec.project_url:
        if os.path.isdir(spec.project_url):
            staged = workspace.copy_tree(spec.project_url, spec.workspace)
        else:
            staged = len(_fetch_committed(at(spec.project_url), spec.workspace, "the project snapshot", log))
        log(f"provision: staged {staged} project files from {spec.project_url}")
    for url in spec.upstream_outputs:
        got = _fetch_committed(at(url), spec.workspace, "an earlier step's output", log)
        log(f"provision: {len(got)} files from an earlier step ({url})")
    staged_inputs = inputs.stage(spec.inputs, spec.workspace, spec.store_options, log)
    for item in staged_inputs:
        log(f"provision: input {item['name']} -> {item['path']} ({item['files']} files)")
    manifest = workspace.snapshot(spec.workspace)
    used = []
    mounted = datasets.Mounted(**spec.data_sets_mounted) if spec.data_sets_mounted else None
    for ds in spec.data_sets:
        staged_set = datasets.stage(at(ds["url"]), spec.workspace, ds["path"], spec.data_sets_by_reference, log,
                                    mounted)
        how = "linked read-only" if staged_set.linked else "copied"
        log(f"provision: data set {ds['url']} version {staged_set.version} -> {ds['path']} "
            f"({staged_set.files} files, {how})")
        if staged_set.linked:
            manifest.linked.append(ds["path"].rstrip("/"))
        else:  # their digests are known from the version's manifest: no second read of the data
            for r in staged_set.records:
                rel = os.path.normpath(os.path.join(ds["path"], r.path))
                manifest.files[rel] = workspace.Entry(r.size, r.sha256)
        used.append({"url": ds["url"], "path": ds["path"], "version": staged_set.version,
                     "files": staged_set.files, "linked": staged_set.linked})
    workspace.write_manifest(spec.workspace, manifest)
    result: dict[str, Any] = {"files": len(manifest.files), "data_sets": used}
    if staged_inputs:
        result["inputs"] = staged_inputs
    return result


def _fetch_committed(loc: Location, target: str, what: str, log: Any) -> list[publish.FileRecord]:
    manifest = publish.read_manifest(loc)
    if manifest is None:
        raise FileNotFoundError(f"{what} at {loc.url} was never completely published (no committed manifest)")
    return publish.fetch(manifest, loc, target, log)


def collect(spec: CollectSpec, log: Any = print, fs: AbstractFileSystem | None = None) -> dict[str, Any]:
    """Save artifacts and hand changed files on (always: partial outputs of a failed run are kept), publish
    data sets (only after a successful run). Returns the output manifest."""

    def at(url: str) -> Location:
        return locate(url, spec.store_options, fs)

    manifest = workspace.read_manifest(spec.workspace)
    changed = workspace.changed_files(spec.workspace, manifest)
    selection = workspace.select(spec.workspace, spec.artifact_paths)
    for path in selection.unmatched:
        log(f"collect: artifact path {path!r} matched no file in the workspace")
    declared = [(out, workspace.select(spec.workspace, [out["path"]])) for out in spec.outputs]
    for out, picked in declared:
        if picked.unmatched:
            log(f"collect: output {out['path']!r} matched no file in the workspace")
    chosen = set(selection.files) | (set(changed) if spec.save_changed_files else set())
    chosen |= {rel for _out, picked in declared for rel in picked.files}
    saved = publish.publish(spec.workspace, chosen, at(spec.artifact_url), meta=spec.meta, log=log)
    artifacts = [r.as_dict() for r in saved.files]
    log(report.table("collect: saved artifacts", spec.artifact_url, artifacts))
    result: dict[str, Any] = {"artifact_url": spec.artifact_url, "artifacts": artifacts, "handed_on": [],
                              "data_sets": []}
    if spec.outputs:
        result["outputs"] = _deliver_outputs(spec, declared, saved, at, log)
    if spec.exchange_url is not None:
        passed = publish.publish(spec.workspace, changed, at(spec.exchange_url), meta=spec.meta, log=log)
        result["handed_on"] = [r.as_dict() for r in passed.files]
        log(report.table("collect: changed files handed to later steps", spec.exchange_url, result["handed_on"]))
    for ds in spec.data_sets:
        if not spec.run_succeeded:
            log(f"collect: data set {ds['url']} not published: the run did not succeed (the latest version stays)")
            continue
        version, published = datasets.publish_version(spec.workspace, ds["path"], at(ds["url"]),
                                                      spec.data_set_versions, meta=spec.meta, log=log)
        log(report.table(f"collect: published data set version {version.name}", published.url,
                         [r.as_dict() for r in published.files]))
        result["data_sets"].append({"url": ds["url"], "version": version.name, "files": len(published.files)})
    return result


def _deliver_outputs(spec: CollectSpec, declared: list[tuple[dict[str, str], workspace.Selection]],
                     saved: publish.Manifest, at: Any, log: Any) -> list[dict[str, Any]]:
    """Declared outputs: saved with the artifacts, and also streamed to their own URL where they name one
    (TES-style): a file to that URL; a folder's or a glob's files below it, by their path relative to the
    folder (for a glob: to its part before the first wildcard)."""
    by_path = {r.path: r for r in saved.files}
    delivered: list[dict[str, Any]] = []
    for out, picked in declared:
        records = [dict(by_path[rel.replace(os.sep, "/")].as_dict()) for rel in picked.files]
        url = out.get("url")
        if url:
            single = os.path.isfile(os.path.join(spec.workspace, out["path"]))
            base = _fixed_prefix(out["path"])

            def send(rel: str, url: str = url, single: bool = single, base: str = base) -> str:
                dest = at(url) if single else at(url).child(os.path.relpath(rel, base).replace(os.sep, "/"))
                transfer.upload_file(os.path.join(spec.workspace, rel), dest, log)
                return str(dest.url)

            for record, copy_url in zip(records, transfer.each(send, picked.files)):
                record["delivered_to"] = copy_url
        delivered.append({"path": out["path"], "files": records})
        log(report.table(f"collect: output {out['path']}", url or spec.artifact_url, records))
    return delivered


def _fixed_prefix(path: str) -> str:
    """``out/*.json`` -> ``out``; ``models`` -> ``models``; ``**/x`` -> ``.``."""
    parts = []
    for part in path.replace(os.sep, "/").strip("/").split("/"):
        if set(part) & set("*?["):
            break
        parts.append(part)
    return "/".join(parts) or "."
