"""YAML loading shared by the dialects.

Scalars stay the text the user wrote (``pythonVersion: 3.10`` is "3.10", never the float 3.1), tags are kept
(``executor: !poetry {...}``), and every key and value keeps its line and column so a model error can point at
the place in the file. Parsing uses libyaml's composer when available (about 14x faster than pure Python).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import SpecError

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

TAG_KEY = "!tag"
"""Key under which a tagged mapping keeps its tag name (``!poetry`` -> ``{"!tag": "poetry", ...}``)."""

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    line: int
    column: int


@dataclass
class Document:
    """A parsed YAML file: plain data plus where each piece of it was written."""

    file: str
    text: str
    data: Any
    value_marks: dict[Path, Mark]
    key_marks: dict[Path, Mark]

    def mark(self, path: Path, *, key: bool = False) -> Mark:
        """The position of the value (or key) at ``path``; falls back to the nearest enclosing known place."""
        table = self.key_marks if key else self.value_marks
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if not key and probe in self.key_marks:
                return self.key_marks[probe]
            probe = probe[:-1]
        return self.value_marks.get((), Mark(1, 1))

    def error(self, path: Path, message: str, hint: str = "", *, key: bool = False) -> SpecError:
        m = self.mark(path, key=key)
        return SpecError.single(self.file, m.line, m.column, message, hint)


_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _custom_tag(node: yaml.Node) -> str | None:
    tag = node.tag
    if tag in _STANDARD_TAGS or not tag or tag == "!":
        return None
    return tag.removeprefix("!")


def _convert(node: yaml.Node, path: Path, doc: Document, file: str) -> Any:
    doc.value_marks[path] = _mark(node)
    if isinstance(node, yaml.ScalarNode):
        tag = _custom_tag(node)
        # A plain (unquoted) null; libyaml reports the plain style as "" where pure Python says None.
        if node.tag == "tag:yaml.org,2002:null" and not node.style and node.value in ("", "~", "null", "Null", "NULL"):
            value: Any = None
        else:
            value = node.value
        if tag is not None:
            # `- !ame` followed by nothing, or `!poetry` on a scalar: keep the tag visible to the dialect.
            return {TAG_KEY: tag} if value in (None, "") else {TAG_KEY: tag, "!value": value}
        return value
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), doc, file) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        tag = _custom_tag(node)
        if tag is not None:
            result[TAG_KEY] = tag
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                m = _mark(key_node)
                raise SpecError.single(file, m.line, m.column, "a mapping key must be a plain word",
                                       "write the key as text, for example `name:`")
            key = key_node.value
            if key == "<<":
                m = _mark(key_node)
                raise SpecError.single(file, m.line, m.column, "YAML merge keys (`<<`) are not supported",
                                       "use `fromTemplate` to share settings between tasks")
            if key in result:
                m = _mark(key_node)
                first = doc.key_marks.get(path + (key,))
                where = f" (first set at line {first.line})" if first else ""
                raise SpecError.single(file, m.line, m.column, f"key '{key}' is set twice{where}",
                                       "remove one of the two; YAML keeps only the last and the other would be lost")
            doc.key_marks[path + (key,)] = _mark(key_node)
            result[key] = _convert(value_node, path + (key,), doc, file)
        return result
    raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover


def _explain_yaml_error(file: str, text: str, exc: yaml.MarkedYAMLError) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    column = mark.column + 1 if mark else 1
    problem = exc.problem or "invalid YAML"
    hint = "check the indentation and quoting around this place"
    source_line = text.splitlines()[line - 1] if mark and line - 1 < len(text.splitlines()) else ""
    if "alias" in f"{exc.context} {problem}" and "*" in source_line:
        # `schedule: * * * * *` - an unquoted cron starts with `*`, which YAML reads as an alias.
        problem = "a value starting with '*' is read by YAML as an alias (a reference), not as text"
        hint = 'quote it: for a cron schedule write `schedule: "* * * * *"`'
    elif "tab" in problem.lower():
        hint = "YAML indentation must use spaces, not tabs"
    return SpecError.single(file, line, column, f"invalid YAML: {problem}", hint)


def load(file: str, text: str) -> Document:
    """Parse one YAML document; raise SpecError with the position for anything that is not valid YAML."""
    doc = Document(file=file, text=text, data=None, value_marks={}, key_marks={})
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise _explain_yaml_error(file, text, exc) from None
    except yaml.YAMLError as exc:
        raise SpecError.single(file, 1, 1, f"invalid YAML: {exc}", "check the file's syntax") from None
    if node is None:
        doc.data = None
        return doc
    doc.data = _convert(node, (), doc, file)
    return doc
