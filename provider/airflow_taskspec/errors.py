"""Diagnostics about spec files: where (file, line, column), what, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
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
        text = f"{self.file}:{self.line}:{self.column}: {self.severity.value}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.format()


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
