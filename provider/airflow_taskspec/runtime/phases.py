"""Provision and collect, as plain functions over a workspace folder.

The local backend calls them in the Airflow worker; the filer pod calls them through ``python -m
airflow_taskspec.runtime``. Both get the same JSON-able arguments, so both backends stage and save alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from . import store, workspace


@dataclass
class ProvisionSpec:
    workspace: str
    project_url: str | None = None  # a folder or store URL holding the project files; None: the image has them
    upstream_outputs: list[str] = field(default_factory=list)  # store URLs of earlier pipeline steps' outputs
    data_sets: list[dict[str, str]] = field(default_factory=list)  # {"url": ..., "path": ...}
    store_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class CollectSpec:
    workspace: str
    artifact_url: str
    artifact_paths: list[str] = field(default_factory=list)
    save_changed_files: bool = False
    exchange_url: str | None = None  # where later pipeline steps find this step's changed files
    data_sets: list[dict[str, str]] = field(default_factory=list)  # published: {"url": ..., "path": ...}
    store_options: dict[str, Any] = field(default_factory=dict)


def provision(spec: ProvisionSpec, log: Any = print) -> dict[str, Any]:
    os.makedirs(spec.workspace, exist_ok=True)
    staged = 0
    if spec.project_url:
        if os.path.isdir(spec.project_url):
            staged = workspace.copy_tree(spec.project_url, spec.workspace)
        else:
            staged = len(store.download_tree(spec.project_url, spec.workspace, spec.store_options))
        log(f"provision: staged {staged} project files from {spec.project_url}")
    for url in spec.upstream_outputs:
        got = store.download_tree(url, spec.workspace, spec.store_options)
        log(f"provision: {len(got)} files from an earlier step ({url})")
    for ds in spec.data_sets:
        target = os.path.join(spec.workspace, ds["path"])
        got = store.download_tree(ds["url"], target, spec.store_options)
        log(f"provision: data set {ds['url']} -> {ds['path']} ({len(got)} files)")
    manifest = workspace.snapshot(spec.workspace)
    workspace.write_manifest(spec.workspace, manifest)
    return {"files": len(manifest)}


def collect(spec: CollectSpec, log: Any = print, backoff: store.Backoff | None = None) -> list[dict[str, Any]]:
    """Save what the step made. Transient store errors are retried with backoff (``backoff``, default
    ``store.Backoff`` logging to ``log``); permanent ones, and the last failed try, raise."""
    retry = backoff or store.Backoff(log=log)
    manifest = workspace.read_manifest(spec.workspace)
    changed = workspace.changed_files(spec.workspace, manifest)
    chosen = set(workspace.files_under(spec.workspace, spec.artifact_paths))
    if spec.save_changed_files:
        chosen.update(changed)
    saved = store.upload(spec.workspace, sorted(chosen), spec.artifact_url, spec.store_options, retry)
    log(f"collect: saved {len(saved)} artifacts to {spec.artifact_url}")
    if spec.exchange_url is not None:
        passed = store.upload(spec.workspace, changed, spec.exchange_url, spec.store_options, retry)
        log(f"collect: {len(passed)} changed files handed to later steps")
    for ds in spec.data_sets:
        files = workspace.files_under(spec.workspace, [ds["path"]])
        base = os.path.join(spec.workspace, ds["path"])
        rel_to_ds = [os.path.relpath(os.path.join(spec.workspace, f), base) for f in files]
        if os.path.isfile(base):
            rel_to_ds = [os.path.basename(base)]
            base = os.path.dirname(base)
        store.upload(base, rel_to_ds, ds["url"], spec.store_options, retry)
        log(f"collect: published data set {ds['url']} ({len(rel_to_ds)} files)")
    return saved
