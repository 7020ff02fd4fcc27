"""The output manifest as people read it: one table in the task log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def table(title: str, base_url: str, records: Sequence[dict[str, Any]]) -> str:
    """``title`` and where the files are, then one row per file: workspace path, size, sha256 (its first 12
    hex digits; the full digest and each file's URL are in the XCom)."""
    total = sum(int(r["size"]) for r in records)
    head = f"{title}: {len(records)} file{'s' if len(records) != 1 else ''}, {human_size(total)} -> {base_url}"
    if not records:
        return head
    rows = [(str(r["path"]), human_size(int(r["size"])), str(r["sha256"])[:12]) for r in records]
    widths = [max(len(col), *(len(row[i]) for row in rows)) for i, col in enumerate(("path", "size", "sha256"))]
    lines = [head, ("  " + "  ".join(h.ljust(w) for h, w in zip(("path", "size", "sha256"), widths))).rstrip()]
    for path, size, digest in rows:
        lines.append(f"  {path.ljust(widths[0])}  {size.rjust(widths[1])}  {digest}")
    return "\n".join(lines)
