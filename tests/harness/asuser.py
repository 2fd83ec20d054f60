"""Running a check as another user, from a copy of it that user can read.

The checkout may sit where no other user can enter (root's home is 0700), and
so may the project's virtualenv with its libvirt-python and nagiosplugin. A
check run as another user therefore runs from a copy of the plugin and the
library in a fresh world-readable directory, with Debian's python3 and its
python3-libvirt and python3-nagiosplugin: the runtime Debian ships for the
plugins, and one that any user can execute and import.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from harness.paths import REPO
from harness.vm.host import ensure_packages

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"
RUNTIME_PACKAGES = ("python3-libvirt", "python3-nagiosplugin")
# Not $TMPDIR: it may be private; every user can traverse /tmp.
SHARED_TEMP = "/tmp"


def as_nobody() -> list[str]:
    """The command prefix that drops every privilege and becomes nobody:nogroup."""
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@functools.cache
def system_python() -> str:
    """Debian's python3, with the packages a check imports installed if missing."""
    ensure_packages(RUNTIME_PACKAGES)
    return SYSTEM_PYTHON


@contextlib.contextmanager
def nobody_command(check: str) -> Iterator[list[str]]:
    """The command that runs checks/<check> as nobody; append the check's options."""
    with readable_plugin(check) as plugin:
        yield [*as_nobody(), system_python(), str(plugin)]


@contextlib.contextmanager
def readable_plugin(check: str) -> Iterator[Path]:
    """A copy of checks/<check> and libcheck/ that any user can read, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="check_vm-asuser-", dir=SHARED_TEMP))
    try:
        root.chmod(0o755)
        copy_library(REPO / "libcheck", root / "libcheck")
        yield copy_file(REPO / "checks" / check, root / "checks" / check, mode=0o755)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def copy_library(source: Path, target: Path) -> None:
    """Copy the package's .py files, keeping its layout; no bytecode."""
    for module in sorted(source.rglob("*.py")):
        copy_file(module, target / module.relative_to(source), mode=0o644)


def copy_file(source: Path, target: Path, mode: int) -> Path:
    """Copy one file with `mode`, creating its directories 0755 (whatever the umask)."""
    readable_directories(target.parent)
    shutil.copyfile(source, target)
    target.chmod(mode)
    return target


def readable_directories(path: Path) -> None:
    """Create `path` and any missing parents, each 0755."""
    if path.is_dir():
        return
    readable_directories(path.parent)
    path.mkdir()
    path.chmod(0o755)
