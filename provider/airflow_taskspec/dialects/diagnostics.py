"""What every dialect needs to report bad input: pydantic errors -> file:line:column, warnings (did-you-mean is in ``errors``).

A dialect validates a YAML document (``yaml.Document``) with pydantic models; ``model_diagnostics`` turns the
``ValidationError`` into one diagnostic per place, each at the line and column of the key or value concerned,
with what is wrong and how to write it instead.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from typing import Any

from pydantic import AliasChoices, BaseModel, ValidationError

from ..errors import Diagnostic, Severity, SpecError, closest, did_you_mean, one_of
from .yaml import TAG_KEY, Document, Path

WHOLE_FILE = "no DAG of this file is built until this is fixed"
"""Added to the hint of an error that stops a whole file, so a user knows why valid parts vanished too."""




class ValueAt(ValueError):
    """A validator's error about one part of the value it checks (a map's key, a list's entry): raised inside a
    pydantic validator, it is reported at that part's line instead of the line of the key holding the whole value."""

    def __init__(self, part: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        super().__init__(message)
        self.part = part
        self.key = key  # the error is about the key itself (a resource's name), not its value


NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def name_problem(value: str, extra: str = "-_") -> str:
    """What makes ``value`` a bad name when names hold ASCII letters and digits, and ``extra`` after the first
    character: the characters it may not hold (an accented letter is a letter to a user, not to Airflow), and
    a spelling that would do."""
    allowed = NAME_CHARACTERS | set(extra)
    bad = sorted({c for c in value if c not in allowed}, key=value.index)
    if not bad:
        return (f"it may not start with '{value[:1]}'; start it with a letter or a digit" if value
                else "it is empty")
    shown = ", ".join(f"'{c}'" for c in bad)
    plain = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    suggestion = "".join(c if c in allowed else "_" for c in plain).lstrip("".join(extra))
    return f"{shown} {'is' if len(bad) == 1 else 'are'} not accepted" + (
        f"; for example '{suggestion}'" if suggestion and suggestion != value else "")



def warning(doc: Document, path: Path, message: str, hint: str = "") -> Diagnostic:
    """A warning at the key at ``path``, or at the value when it has none (a list's entry)."""
    m = doc.mark(path, key=tuple(path) in doc.key_marks or tuple(path) not in doc.value_marks)
    return Diagnostic(doc.file, m.line, m.column, message, hint, Severity.WARNING)


def stops_the_file(err: SpecError) -> SpecError:
    """The same errors, each saying that it keeps every DAG of the file from being built; unchanged when one
    of them says so already (it stops the file, the others detail it)."""
    if any(WHOLE_FILE in d.hint for d in err.diagnostics if d.severity is Severity.ERROR):
        return err
    return SpecError([
        replace(d, hint=f"{d.hint}; {WHOLE_FILE}" if d.hint else WHOLE_FILE) if d.severity is Severity.ERROR
        and WHOLE_FILE not in d.hint else d
        for d in err.diagnostics
    ])


# -- pydantic validation errors -> file:line:column -----------------------------------------------------------------

def model_keys(model: type[BaseModel]) -> list[str]:
    """Every key a model accepts, alternative spellings included (for did-you-mean)."""
    keys: list[str] = []
    for field_name, info in model.model_fields.items():
        keys.extend(_spellings(field_name, info))
    return [k for k in keys if k != TAG_KEY]


def _spellings(field_name: str, info: Any) -> list[str]:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(a) for a in alias.choices]
    return [info.alias] if info.alias else [field_name]


def _field_model(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    """The model a key's value is validated as (unwrapping Optional, list and union), if it is one."""
    for field_name, info in model.model_fields.items():
        if key == field_name or key in _spellings(field_name, info):
            return _first_model(info.annotation)
    return None


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _owner_model(root: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel]:
    """The model whose keys are valid at the place that holds the last element of ``path``."""
    model = root
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        inner = _field_model(model, part)
        if inner is None:
            return model
        model = inner
    return model


def _branch_name(part: str) -> bool:
    return "[" in part or part.startswith("function") or (part[:1].isupper() and part != TAG_KEY) or part == "str"


def clean_loc(loc: tuple[Any, ...], data: Any = None) -> tuple[Any, ...]:
    """An error's path in the document: pydantic inserts union branch names ("Task", "list[Task]", "str") and
    validator names between the keys. With the document's ``data``, a part that is a key of the mapping at that
    place is a key whatever it looks like (a user's `Name:` is not a branch name); the last part may be a key
    that is missing."""
    node, path = data, []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path.append(part)
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        elif isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif not _branch_name(part) or (data is not None and i == len(loc) - 1 and isinstance(node, dict)):
            path.append(part)
            node = None
    return tuple(path)


_EXPECTED = {"string_type": "a string", "dict_type": "a mapping", "list_type": "a list", "model_type": "a mapping",
             "model_attributes_type": "a mapping", "bool_parsing": "true or false", "bool_type": "true or false"}
_HOW_TO_WRITE = {
    "a string": "write plain text after the colon, for example `{key}: my_value`; `[...]` makes a list and "
                "`{{...}}` a mapping, so quote text that starts with them",
    "a mapping": "write its keys indented on the lines below `{key}:`",
    "a list": "write each entry on its own line below `{key}:`, starting with `- `",
    "true or false": "write `{key}: true` or `{key}: false`",
}


def _kind_of(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get(TAG_KEY), str):  # `!!binary ...`, `!poetry` on a scalar
        return f"a value tagged `!{value[TAG_KEY]}`"
    return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else (
        "empty" if value is None else f"the text '{value}'")


def error_loc(err: Any, data: Any) -> tuple[Any, ...]:
    """Where a pydantic error is in the document, down to the part a ``ValueAt`` names."""
    loc = clean_loc(tuple(err["loc"]), data)
    cause = (err.get("ctx") or {}).get("error")
    return loc + cause.part if isinstance(cause, ValueAt) else loc


def model_diagnostic(doc: Document, root: type[BaseModel], err: Any) -> Diagnostic:
    """One pydantic error (an item of ``ValidationError.errors()``) at its place in ``doc``."""
    loc = error_loc(err, doc.data)
    where = f"'{loc[-1]}'" if loc and isinstance(loc[-1], str) else "this entry"
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        keys = model_keys(_owner_model(root, loc))
        mark = doc.mark(loc, key=True)
        msg, hint = f"unknown key '{key}'", did_you_mean(key, keys) or f"accepted keys here: {one_of(keys)}"
    elif err["type"] == "missing":
        mark = doc.mark(loc[:-1])
        msg, hint = f"missing required key '{loc[-1]}'", f"add `{loc[-1]}:` here"
    elif err["type"] in _EXPECTED:
        mark = doc.mark(loc)
        expected = _EXPECTED[err["type"]]
        msg = f"{where} must be {expected}, not {_kind_of(err['input'])}"
        key_name = loc[-1] if loc and isinstance(loc[-1], str) else "the key"
        hint = _HOW_TO_WRITE[expected].format(key=key_name)
    else:
        cause = (err.get("ctx") or {}).get("error")
        mark = doc.mark(loc, key=isinstance(cause, ValueAt) and cause.key)
        msg, hint = err["msg"].removeprefix("Value error, "), ""
    return Diagnostic(doc.file, mark.line, mark.column, msg, hint)


def model_diagnostics(doc: Document, root: type[BaseModel], exc: ValidationError) -> list[Diagnostic]:
    """Every error of ``exc`` (raised validating ``doc.data`` as ``root``), one per place in the file."""
    errors = without_misspelled(exc.errors(include_url=False), doc.data, root)
    return most_specific([model_diagnostic(doc, root, err) for err in errors])


def without_misspelled(errors: list[Any], data: Any, root: type[BaseModel]) -> list[Any]:
    """The errors without the missing keys that an unknown key of the same mapping misspells (`methd:` for
    `method`): the unknown key's did-you-mean says it all, and "missing 'method'" beside it would confuse."""
    meant = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = clean_loc(tuple(err["loc"]), data)
            match = closest(str(loc[-1]), model_keys(_owner_model(root, loc))) if loc else ""
            if match:
                meant.add(loc[:-1] + (match,))
    return [err for err in errors
            if err["type"] != "missing" or clean_loc(tuple(err["loc"]), data) not in meant]


def _specificity(d: Diagnostic) -> int:
    if d.message.startswith("unknown key") and d.hint.startswith("did you mean"):
        return 3  # `Name:` for `name:` says more than "missing required key 'name'" at the same place
    if "must be" in d.message:
        return 1
    return 2


def most_specific(diags: list[Diagnostic]) -> list[Diagnostic]:
    # A union reports every branch's failure; keep one message per place, preferring a specific one.
    by_place: dict[tuple[int, int], Diagnostic] = {}
    for d in sorted(diags, key=lambda d: (d.line, d.column)):
        current = by_place.get((d.line, d.column))
        if current is None or _specificity(d) > _specificity(current):
            by_place[(d.line, d.column)] = d
    return list(by_place.values())
