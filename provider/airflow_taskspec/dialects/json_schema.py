"""JSON Schema of a file format from the pydantic models that validate it (for dialects built on pydantic).

YAML tags have no JSON equivalent: the schema describes a tag (``executor: !poetry``, ``- !ame``) as the
property ``"!tag"`` that taskspec's YAML loader turns it into. Alternative spellings of a key (``env`` for
``environment``) are listed as properties of their own, so editors complete and accept both.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel


def from_models(root: type[BaseModel], title: str, description: str) -> dict[str, Any]:
    schema = root.model_json_schema(by_alias=True, mode="validation")
    for model in _models(root):
        target = schema if model is root else schema.get("$defs", {}).get(model.__name__)
        if target is not None:
            _add_alternative_spellings(model, target)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    schema["description"] = description
    return schema


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    todo = [root]
    while todo:
        model = todo.pop()
        if model in found:
            continue
        found.append(model)
        for info in model.model_fields.values():
            todo.extend(_nested(info.annotation))
    return found


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) or () for m in _nested(arg)]


def _add_alternative_spellings(model: type[BaseModel], target: dict[str, Any]) -> None:
    properties = target.get("properties", {})
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        if not isinstance(alias, AliasChoices):
            continue
        spellings = [str(a) for a in alias.choices]
        shown = next((s for s in spellings if s in properties), None) or (name if name in properties else None)
        if shown is None:
            continue
        for spelling in spellings:
            properties.setdefault(spelling, properties[shown])
        if shown in target.get("required", []):
            # Either spelling satisfies the requirement.
            target["required"] = [r for r in target["required"] if r != shown]
            target.setdefault("anyOf", []).extend({"required": [s]} for s in spellings)
