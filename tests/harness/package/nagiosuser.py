"""The user Debian's icinga2 and nagios4 run their checks as: nagios.

Commands run as nagios through runuser, from /, with the environment a
system service would have (no PYTHONPATH or virtualenv of the tests).
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

from .service import SYSTEM_PATH

USER = "nagios"
PYTHON3 = "/usr/bin/python3"


def home() -> Path:
    """nagios's home in the password database (/var/lib/nagios on Debian)."""
    return Path(pwd.getpwnam(USER).pw_dir)


def state_dir() -> Path:
    """Where the plugins keep nagios's state, as README says: ~/.local/state/check_vm."""
    return home() / ".local" / "state" / "check_vm"


def uid() -> int:
    return pwd.getpwnam(USER).pw_uid


def group_names() -> set[str]:
    """Every group nagios is in, its primary group included."""
    entry = pwd.getpwnam(USER)
    return {grp.getgrgid(gid).gr_name for gid in os.getgrouplist(USER, entry.pw_gid)}


def run_as_nagios(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `argv` as nagios from /, with a service's PATH; its exit and output."""
    return subprocess.run(["runuser", "-u", USER, "--", *argv], capture_output=True,
                          text=True, timeout=timeout, cwd="/", check=False,
                          env={"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"})
