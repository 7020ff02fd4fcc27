"""YAML loading shared by the dialects.

Scalars stay the text the user wrote (``pythonVersion: 3.10`` is "3.10", never the float 3.1), tags are kept
(``executor: !poetry {...}``), and every key and value keeps its line and column so a model error can point at
the place in the file. Parsing uses libyaml's composer when available (about 14x faster than pure Python).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import yaml

from ..errors import SpecError

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

TAG_KEY: Final = "!tag"
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
    # As written without its first "!": `!poetry` -> "poetry"; YAML's own `!!binary` -> "!binary" (the parser
    # expands it to tag:yaml.org,2002:binary), so a message that puts "!" back shows what the file says.
    return tag.replace("tag:yaml.org,2002:", "!", 1) if tag.startswith("tag:yaml.org,2002:") else tag.removeprefix("!")


MAX_VALUES = 200_000
"""Values one file may hold once its YAML aliases are expanded. A few lines of nested aliases (an "alias bomb")
expand to billions; expanding them would run into Airflow's DAG-file import timeout and drop every DAG."""
MAX_CHARS = 5_000_000
"""Size of one spec file; larger ones are rejected unread (a task file is a few kilobytes)."""
MAX_DEPTH = 200
"""Nesting depth of one file (Python's recursion limit must never be what stops a hostile file)."""


@dataclass
class _Budget:
    """What converting one document has used so far, and the nodes on the path being converted."""

    values: int = 0
    open_nodes: set[int] | None = None


def _convert(node: yaml.Node, path: Path, doc: Document, file: str, budget: _Budget | None = None) -> Any:
    budget = budget if budget is not None else _Budget(open_nodes=set())
    assert budget.open_nodes is not None
    budget.values += 1
    if id(node) in budget.open_nodes:
        m = _mark(node)
        raise SpecError.single(file, m.line, m.column, "this YAML anchor contains an alias to itself, so its value "
                               "would never end", "remove the alias (`*name`) inside the anchored value")
    if budget.values > MAX_VALUES:
        m = _mark(node)
        raise SpecError.single(file, m.line, m.column, f"the file holds more than {MAX_VALUES:,} values once its YAML "
                               "aliases are expanded", "use fewer or less nested aliases (`*name`); taskspec does "
                               "not expand files this large")
    if len(path) > MAX_DEPTH:
        m = _mark(node)
        raise SpecError.single(file, m.line, m.column, f"values are nested more than {MAX_DEPTH} levels deep",
                               "flatten the structure")
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
        budget.open_nodes.add(id(node))
        items = [_convert(item, path + (i,), doc, file, budget) for i, item in enumerate(node.value)]
        budget.open_nodes.discard(id(node))
        return items
    if isinstance(node, yaml.MappingNode):
        budget.open_nodes.add(id(node))
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
            result[key] = _convert(value_node, path + (key,), doc, file, budget)
        budget.open_nodes.discard(id(node))
        return result
    raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover


def _explain_yaml_error(file: str, text: str, exc: yaml.MarkedYAMLError) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    column = mark.column + 1 if mark else 1
    lines = text.splitlines()
    source_line = lines[line - 1] if mark and line - 1 < len(lines) else ""
    explained = (_tab(lines, line) or _unclosed_quote(exc) or _colon_in_value(exc, line, column, source_line)
                 or _no_space_after(lines, line, exc) or _value_then_keys(lines, line, exc)
                 or _misindented(exc, line, column, source_line))
    if explained is not None:
        (line, column), problem, hint = explained
        return SpecError.single(file, line, column, f"invalid YAML: {problem}", hint)
    problem = exc.problem or "invalid YAML"
    hint = "check the indentation and quoting around this place"
    if "alias" in f"{exc.context} {problem}" and "*" in source_line:
        # `schedule: * * * * *` - an unquoted cron starts with `*`, which YAML reads as an alias.
        problem = "a value starting with '*' is read by YAML as an alias (a reference), not as text"
        hint = 'quote it: for a cron schedule write `schedule: "* * * * *"`'
    opened = exc.context_mark
    if exc.context and opened is not None and mark is not None and opened.line != mark.line:
        # `method: [run` on line 5 is only noticed at the end of the file: say where the unclosed part starts.
        problem += f" ({exc.context} started at line {opened.line + 1}, column {opened.column + 1})"
    return SpecError.single(file, line, column, f"invalid YAML: {problem}", hint)


Explained = tuple[tuple[int, int], str, str]  # (line, column), problem, hint


def _indent(source_line: str) -> int:
    return len(source_line) - len(source_line.lstrip(" "))


def _tab(lines: list[str], line: int) -> Explained | None:
    """A tab in the indentation of the line YAML stopped at (or of the line above, when it stopped later)."""
    for number in (line, line - 1):
        if 0 < number <= len(lines):
            text = lines[number - 1]
            lead = text[:len(text) - len(text.lstrip(" \t"))]
            if "\t" in lead:
                return ((number, lead.index("\t") + 1),
                        f"line {number} is indented with a tab; YAML indents with spaces only",
                        ("replace the tab with spaces, so that the line starts in the same column as the "
                         "other keys of its mapping"))
    return None


def _previous_line(lines: list[str], line: int) -> int:
    """The number of the last line above ``line`` that holds more than a comment (0 when there is none)."""
    for number in range(line - 1, 0, -1):
        stripped = lines[number - 1].strip()
        if stripped and not stripped.startswith("#"):
            return number
    return 0


_KEY_VALUE = re.compile(r"^(?P<lead>[ -]*)(?P<key>[^\s:#'\"][^:#]*?):[ ]+(?P<value>[^\s#].*?)\s*(?:#.*)?$")


def _unclosed_quote(exc: yaml.MarkedYAMLError) -> Explained | None:
    opened = exc.context_mark
    if opened is None or exc.context != "while scanning a quoted scalar":
        return None
    problem = f"the quote opened at line {opened.line + 1}, column {opened.column + 1} is never closed"
    return (opened.line + 1, opened.column + 1), problem, "close it with the same quote (`\"` or `'`) at the end"


def _colon_in_value(exc: yaml.MarkedYAMLError, line: int, column: int, source_line: str) -> Explained | None:
    """`command: echo a: b`: a ': ' inside a plain value reads as a second key on the line."""
    if "mapping values are not allowed" not in (exc.problem or ""):
        return None
    found = _KEY_VALUE.match(source_line[:column - 1])
    if found is None:
        return None
    key = found["key"]
    return ((line, column), f"the value of `{key}:` holds ': ', which YAML reads as the start of another key",
            f"quote the value: `{key}: \"{source_line[found.start('value'):].strip()}\"`")


_NO_SPACE = re.compile(r"^\s*(?P<word>-[^\s-]\S*|[A-Za-z_][\w-]*:[^\s:]\S*)")


def _no_space_after(lines: list[str], line: int, exc: yaml.MarkedYAMLError) -> Explained | None:
    """`name:x` (text, not a key) or `-name: t` (a key named '-name', not a list entry) on the line above."""
    if "mapping values are not allowed" not in (exc.problem or ""):
        return None
    above = _previous_line(lines, line)
    found = _NO_SPACE.match(lines[above - 1]) if above else None
    if found is None:
        return None
    word = found["word"]
    at = (above, found.start("word") + 1)
    if word.startswith("-"):
        return (at, f"`{word}` on line {above} has no space after `-`, so it does not start a list entry",
                f"write `- {word[1:]}`")
    key, value = word.split(":", 1)
    problem = f"`{word}` on line {above} has no space after the colon, so YAML reads it as text, not as a key"
    return at, problem, f"write `{key}: {value}`"


def _value_then_keys(lines: list[str], line: int, exc: yaml.MarkedYAMLError) -> Explained | None:
    """`executor: pip` followed by indented keys: YAML reads a key below a value as a syntax error."""
    if "mapping values are not allowed" not in (exc.problem or "") or not 0 < line <= len(lines):
        return None
    above = _previous_line(lines, line)
    found = _KEY_VALUE.match(lines[above - 1]) if above else None
    if found is None or _indent(lines[line - 1]) <= len(found["lead"]) or found["value"][:1] in "!&*|>":
        return None
    key, value = found["key"], found["value"]
    hint = (f"remove '{value}' so that the indented lines are the keys of `{key}:`, or indent them like "
            f"`{key}:` if they are keys of their own")
    if key == "executor" and value.isidentifier():
        hint = f"an executor is a tag, written with `!`: `executor: !{value}`, with its keys indented below"
    problem = (f"`{key}:` on line {above} has the value '{value}', so the indented key on line {line} cannot "
               "belong to it")
    return (above, found.start("value") + 1), problem, hint


def _misindented(exc: yaml.MarkedYAMLError, line: int, column: int, source_line: str) -> Explained | None:
    """A list entry or a key that starts in a column its list or mapping does not use."""
    context = exc.context or ""
    opened = exc.context_mark
    starts_line = column == _indent(source_line) + 1
    if opened is None or not context.startswith("while parsing a block") or not starts_line:
        return None
    kind, items = ("list", "entries") if "collection" in context else ("mapping", "keys")
    expected = opened.column + 1
    problem = (f"line {line} starts in column {column}, but the {items} of the {kind} it belongs to (from "
               f"line {opened.line + 1}) start in column {expected}")
    hint = (f"indent it to column {expected} like the other {items}, or 2 spaces deeper than a key to nest it "
            "below that key")
    return (line, column), problem, hint


def _could_be_deep(text: str) -> bool:
    """Cheap test: deep nesting needs many flow brackets or deep indentation."""
    if text.count("[") + text.count("{") > MAX_DEPTH:
        return True
    return any(len(line) - len(line.lstrip(" -")) > MAX_DEPTH for line in text.splitlines())


def _check_depth(file: str, text: str) -> None:
    """Reject deep nesting before composing: libyaml's composer recurses in C and crashes the whole process
    (the DAG processor, with every DAG of the folder) on a document nested some 10,000 levels deep."""
    if not _could_be_deep(text):
        return
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                m = event.start_mark
                line, column = (m.line + 1, m.column + 1) if m is not None else (1, 1)
                raise SpecError.single(file, line, column,
                                       f"values are nested more than {MAX_DEPTH} levels deep", "flatten the structure")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def load(file: str, text: str) -> Document:
    """Parse one YAML document; raise SpecError with the position for anything that is not valid YAML."""
    doc = Document(file=file, text=text, data=None, value_marks={}, key_marks={})
    if len(text) > MAX_CHARS:
        raise SpecError.single(file, 1, 1, f"the file has {len(text):,} characters, more than the {MAX_CHARS:,} "
                               "taskspec reads", "a task file describes tasks; keep data in files next to it")
    try:
        _check_depth(file, text)
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
