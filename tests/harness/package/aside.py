"""Files and directories of the system, set aside while the tier works and put back after.

Whatever lies at a path is renamed next to itself (same filesystem: owner,
mode and times stay as they were) and renamed back at the end, after what the
tier left there is removed, with any directory above it that the tier's run
created. A name with this suffix is never loaded by Icinga 2 (`*.conf`) or
Nagios (`*.cfg`).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Iterator

SUFFIX = ".check-vm-test-aside"


def topmost_missing(path: Path) -> Path:
    """`path` if its parent exists, else the highest ancestor that does not exist yet."""
    while not path.parent.exists():
        path = path.parent
    return path


def remove(path: Path) -> None:
    """Delete a file, symlink or directory tree; nothing if there is nothing."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def set_aside(*paths: Path) -> Iterator[None]:
    """Keep `paths` out of the way for the duration; restore them exactly afterwards."""
    with contextlib.ExitStack() as restore:
        for path in paths:
            restore.enter_context(_one_set_aside(path))
        yield


@contextlib.contextmanager
def _one_set_aside(path: Path) -> Iterator[None]:
    saved = path.with_name(path.name + SUFFIX)
    if saved.exists() or saved.is_symlink():
        # A run that was killed left the original here and its own at `path`.
        remove(path)
        saved.rename(path)
    created = topmost_missing(path)
    if path.exists() or path.is_symlink():
        path.rename(saved)
    try:
        yield
    finally:
        remove(created)
        if saved.exists() or saved.is_symlink():
            saved.rename(path)


@contextlib.contextmanager
def added_file(path: Path, text: str) -> Iterator[Path]:
    """`path` holds `text` (0644) for the duration; whatever was there comes back after."""
    with set_aside(path):
        path.write_text(text)
        path.chmod(0o644)
        yield path
