"""BENCHMARKS.md is one file with a section per benchmark: each benchmark replaces its own section."""

from __future__ import annotations

from pathlib import Path

HEADER = "# Benchmarks\n"


def write_section(path: Path, title: str, body: str) -> None:
    """Replace (or append) the section ``## title`` of ``path`` with ``body`` (which starts with that heading)."""
    text = path.read_text() if path.exists() else HEADER
    heading = f"## {title}\n"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + body.rstrip("\n") + "\n"
    else:
        end = text.find("\n## ", start + len(heading))
        rest = text[end + 1:] if end >= 0 else ""
        text = text[:start] + body.rstrip("\n") + "\n" + ("\n" + rest if rest else "")
    path.write_text(text)
