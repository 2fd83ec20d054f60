"""What the benchmarks share about the machine and the tree they measure.

The tiers' lock (the benchmarks and the tiers that install the package or
need the machine's libvirt never run at once), the tree's version for the
results' header, the environment of every measured process, and progress
lines on stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

from harness.paths import REPO

from bench.common import installed

TIERS_LOCK = "/tmp/check_vm-tiers.lock"


def child_env(scratch: Optional[Path] = None) -> dict[str, str]:
    """The environment of every measured process: bytecode cache on, no libvirt logging,
    and no PYTHONPATH (the Makefile's, which puts tests/ on bench's own path).

    With `scratch` (bench/profiling), the cache goes there instead of the tree."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("LIBVIRT_")
           and key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    if scratch is not None:
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    return env


def say(text: str) -> None:
    """Progress, on stderr."""
    print(text, file=sys.stderr, flush=True)


def git_tree() -> str:
    """The commit the tree is at, -dirty when it has changes."""
    return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, check=False).stdout.strip() or "?"


@contextlib.contextmanager
def tiers_lock(limit: float) -> Iterator[None]:
    """The lock the realvm, icinga and package tiers share; waits up to `limit` s.

    The benchmark holds it from installing the package to the end: the
    package tier installs and purges the same package, and the real guest
    needs the machine's libvirt to itself."""
    with open(TIERS_LOCK, "a") as handle:
        deadline = time.monotonic() + limit
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise installed.NotInstallable(
                        f"{TIERS_LOCK} still held after {limit:g} s (another tier is using "
                        "the package or the machine's libvirt)") from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
