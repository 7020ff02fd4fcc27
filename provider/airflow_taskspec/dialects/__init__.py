"""The input formats taskspec reads: one package per dialect, one line per dialect in ``REGISTRY``.

A dialect implements ``contract.Dialect``; everything after it (``resolve``, ``build``, the backends) sees only
the IR. Modules here that are not a dialect are shared by dialects: ``yaml`` (the YAML loader that keeps lines
and tags), ``diagnostics`` (pydantic errors -> file:line:column), ``resources``, ``schedules``, ``env`` (checks
of what Kubernetes and Airflow accept) and ``json_schema``. Did-you-mean is in ``errors``: backends use it too.
"""

from __future__ import annotations

from typing import Any

from . import ame, peach
from .contract import Dialect, FilePattern, Group, Lookup, Normalised, SpecFile, project_folder

_DIALECTS: tuple[Dialect[Any], ...] = (ame.DIALECT, peach.DIALECT)
REGISTRY: dict[str, Dialect[Any]] = {d.name: d for d in _DIALECTS}
"""Every dialect by name. Discovery offers a file to the dialects in this order; the first that claims it reads it."""

__all__ = ["REGISTRY", "Dialect", "FilePattern", "Group", "Lookup", "Normalised", "SpecFile", "project_folder"]
