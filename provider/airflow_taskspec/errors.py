"""Diagnostics about spec files: where (file, line, column), what, and how to fix it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a spec file. Lines and columns are 1-based, as editors show them."""

    file: str
    line: int
    column: int
    message: str
    hint: str = ""
    severity: Severity = Severity.ERROR

    def format(self) -> str:
        text = f"{shown(self.file)}:{self.line}:{self.column}: {self.severity.value}: {shown(self.message)}"
        if self.hint:
            text += f"\n    hint: {shown(self.hint)}"
        return text

    def __str__(self) -> str:
        return self.format()


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\x1b``, ``\\0`` as ``\\x00``): a file's
    key or value quoted in a message must not move the cursor or recolour the terminal that prints it."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def dedupe(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics in order, each (file, line, column, message) once."""
    seen: set[tuple[str, int, int, str]] = set()
    out = []
    for d in diags:
        if (d.file, d.line, d.column, d.message) not in seen:
            seen.add((d.file, d.line, d.column, d.message))
            out.append(d)
    return out


@dataclass
class SpecError(Exception):
    """Raised when a spec file cannot be compiled; carries every error found, not only the first."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.format())

    def __reduce__(self) -> tuple[type[SpecError], tuple[list[Diagnostic]]]:
        # Exceptions pickle their args (the formatted text); compiled files are cached as pickles.
        return (type(self), (self.diagnostics,))

    @classmethod
    def single(cls, file: str, line: int, column: int, message: str, hint: str = "") -> SpecError:
        return cls([Diagnostic(file, line, column, message, hint)])

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    def format(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)

    def __str__(self) -> str:
        return self.format()


# -- did-you-mean: for dialects' diagnostics and for the run-time checks of backends ----------------------------

def closest(word: str, choices: Iterable[str]) -> str:
    """The choice closest to ``word``, or an empty string when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else ""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A 'did you mean' phrase for the closest choice, or an empty string when nothing is close."""
    match = closest(word, choices)
    return f"did you mean '{match}'?" if match else ""


def one_of(choices: Sequence[str]) -> str:
    return ", ".join(f"'{c}'" for c in choices)
