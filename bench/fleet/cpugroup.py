"""CPU time of a group of processes and all their descendants, from the kernel's cgroups.

A process started into a group (through `launcher()`) takes every process it
forks with it: an Icinga 2 daemon, its workers, its spawn helper and every
plugin they run. The group's CPU counter (cgroup v1 cpuacct.usage, or cgroup
v2 cpu.stat usage_usec) counts all of them, including processes that have
already exited, which per-process accounting cannot.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

V1_ROOT = Path("/sys/fs/cgroup/cpuacct")
V2_ROOTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


class NoCpuGroups(Exception):
    """This machine lets us create no CPU-accounting cgroup; the message says why."""


def _v2_root() -> Path:
    for root in V2_ROOTS:
        if (root / "cgroup.procs").exists() and (root / "cgroup.controllers").exists():
            return root
    raise NoCpuGroups("neither /sys/fs/cgroup/cpuacct (cgroup v1) nor a cgroup v2 "
                      "hierarchy is mounted")


class CpuGroup:
    """One cgroup named `name` for CPU accounting; remove() when its processes are gone."""

    def __init__(self, name: str) -> None:
        self.v1 = (V1_ROOT / "cpuacct.usage").exists()
        root = V1_ROOT if self.v1 else _v2_root()
        self.path = root / name
        try:
            self.path.mkdir()
        except OSError as exc:
            raise NoCpuGroups(f"cannot create the cgroup {self.path}: {exc.strerror} "
                              "(run as root)") from exc

    def launcher(self) -> list[str]:
        """A command prefix that moves the command into the group before it runs."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs")]

    def cpu_seconds(self) -> float:
        """User plus system CPU of every process that ever ran in the group."""
        if self.v1:
            return int((self.path / "cpuacct.usage").read_text()) / 1e9
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        raise NoCpuGroups(f"{self.path}/cpu.stat has no usage_usec")

    def pids(self) -> list[int]:
        text = (self.path / "cgroup.procs").read_text()
        return [int(word) for word in text.split()]

    def remove(self, timeout: float = 10) -> str:
        """SIGKILL what is left in the group, then remove it; '' or what went wrong."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError):
                for pid in self.pids():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            try:
                os.rmdir(self.path)
                return ""
            except FileNotFoundError:
                return ""
            except OSError as exc:
                if time.monotonic() > deadline:
                    return f"cannot remove the cgroup {self.path}: {exc.strerror}"
            time.sleep(0.2)
