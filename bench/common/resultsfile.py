"""bench/results.txt holds the report of each benchmark in a section of its own.

`make bench` writes the part before the first marker; `make fleet` the part
after "==== make fleet ====". Each replaces its own part and keeps the other.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = "==== {} ===="
SECTIONS = ("make bench", "make fleet")


def sections_of(text: str) -> dict[str, str]:
    """The file's text by section; text before any marker belongs to `make bench`."""
    found = {name: "" for name in SECTIONS}
    current = SECTIONS[0]
    for line in text.splitlines(keepends=True):
        name = next((n for n in SECTIONS if line.rstrip("\n") == MARKER.format(n)), None)
        if name is not None:
            current = name
            continue
        found[current] += line
    return found


def write_section(path: Path, name: str, text: str) -> None:
    """Replace one section of the file, atomically."""
    found = sections_of(path.read_text() if path.exists() else "")
    found[name] = text.rstrip("\n") + "\n"
    parts = [found[SECTIONS[0]].rstrip("\n") + "\n"] if found[SECTIONS[0]].strip() else []
    for other in SECTIONS[1:]:
        if found[other].strip():
            parts.append(f"\n{MARKER.format(other)}\n{found[other].strip(chr(10))}\n")
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(parts))
    os.replace(partial, path)
