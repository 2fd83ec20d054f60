"""Checks run as `nagios`, the user Debian's icinga2 and nagios4 run plugins as.

nagios is in no libvirt group: the read-write socket (root:libvirt 0770)
is closed to it, the read-only one open, as on a stock Debian hypervisor.
The plugins run from a copy that nagios can read (the checkout may sit in a
0700 home) with Debian's python3 and its python3-libvirt, and keep their state in
directories nagios owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from harness.asuser import SHARED_TEMP, copy_file, copy_library, system_python
from harness.checkrun import CheckRun
from harness.paths import REPO

from .host import ensure_packages

USER = "nagios"
# Debian's icinga2-common creates the user (as nagios4-common does).
USER_PACKAGE = "icinga2-common"
SERVICE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def nagios_ids() -> tuple[int, int]:
    """nagios's uid and gid, the user created by its package if it is missing."""
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        ensure_packages((USER_PACKAGE,))
        entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


class NagiosChecks:
    """Copies of `checks` and the library that nagios runs; `remove()` deletes them.

    `run(check, *args)` runs one as nagios; a check that keeps state is given
    `--state-dir` with a directory from `state_directory()`.
    """

    def __init__(self, checks: Sequence[str]):
        self.uid, self.gid = nagios_ids()
        self.interpreter = system_python()
        self.root = Path(tempfile.mkdtemp(prefix="check_vm-asnagios-", dir=SHARED_TEMP))
        self.root.chmod(0o755)
        copy_library(REPO / "libcheck", self.root / "libcheck")
        for check in checks:
            copy_file(REPO / "checks" / check, self.root / "checks" / check, mode=0o755)

    def state_directory(self) -> Path:
        """A fresh, empty directory that nagios owns."""
        path = Path(tempfile.mkdtemp(prefix="state-", dir=self.root))
        os.chown(path, self.uid, self.gid)
        return path

    def run(self, check: str, *args: str, timeout: float = 60) -> CheckRun:
        """Run checks/<check> as nagios from /, with a service's environment."""
        argv = [self.interpreter, str(self.root / "checks" / check), *args]
        completed = subprocess.run(["runuser", "-u", USER, "--", *argv], capture_output=True,
                                   text=True, timeout=timeout, cwd="/", check=False,
                                   env={"PATH": SERVICE_PATH, "LANG": "C.UTF-8",
                                        "COLUMNS": "100"})
        return CheckRun(completed.returncode, completed.stdout, completed.stderr)

    def python(self, code: str) -> subprocess.CompletedProcess:
        """Run Debian's python3 as nagios on `code` (what else nagios may do)."""
        return subprocess.run(["runuser", "-u", USER, "--", self.interpreter, "-c", code],
                              capture_output=True, text=True, timeout=60, cwd="/",
                              check=False, env={"PATH": SERVICE_PATH, "LANG": "C.UTF-8"})

    def remove(self) -> None:
        """Delete the copies and every state directory."""
        shutil.rmtree(self.root, ignore_errors=True)
