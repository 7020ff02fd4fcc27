"""`taskspec schema <dialect>`: the JSON Schema of an accepted file format, as its dialect describes it."""

from __future__ import annotations

from typing import Any

from .dialects import REGISTRY


def json_schema(dialect: str) -> dict[str, Any]:
    if dialect not in REGISTRY:
        raise ValueError(f"unknown dialect '{dialect}'; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[dialect].json_schema()
