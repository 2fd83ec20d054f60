"""The registry of the checks: the one list every other list of them comes from.

An entry names a check and the module that defines it (its `CHECK`); the
executable (`check_vm_<name>`), the Icinga 2 CheckCommand (`vm_<name>`) and
the status-line title (`VM_<NAME>`) are derived from the name.  `CHECKS`
are the checks of one VM (`--domain`); `HOST_CHECKS` those of a whole
hypervisor; `ALL_CHECKS` both, for everything that lists every executable.  The
launchers, the package's install and links files, pyproject's scripts, the
generated Icinga 2 and Nagios command definitions and every test tier take
the checks from here, or are held to it by a test.

Importing this module imports no check: a run loads only its own.
"""

from __future__ import annotations

from libcheck.records import NamedTuple

VM_SCOPE, HOST_SCOPE = "vm", "host"


class CheckEntry(NamedTuple):
    """One registered check: its short name, its module, one line about it,
    and what it checks: one VM (`VM_SCOPE`) or a hypervisor (`HOST_SCOPE`)."""

    name: str
    module: str
    summary: str
    scope: str = VM_SCOPE

    @property
    def executable(self) -> str:
        """The plugin's file name: check_vm_cpu."""
        return f"check_vm_{self.name}"

    @property
    def command(self) -> str:
        """The Icinga 2 CheckCommand and Nagios command: vm_cpu."""
        return f"vm_{self.name}"

    @property
    def title(self) -> str:
        """The first word of the status line: VM_CPU."""
        return f"VM_{self.name.upper()}"

    def load(self):
        """The check's definition (its module's CHECK), importing only that module."""
        # __import__ rather than importlib, which a run would import for this alone.
        return __import__(self.module, fromlist=["CHECK"]).CHECK


CHECKS = (
    CheckEntry("cpu", "libcheck.cpu", "CPU usage of a VM"),
    CheckEntry("mem", "libcheck.mem", "memory used inside a VM"),
    CheckEntry("disk_io", "libcheck.disk", "disk I/O of a VM, per disk"),
    CheckEntry("nic", "libcheck.nic", "network traffic of a VM, per interface"),
)

HOST_CHECKS = (
    CheckEntry("host", "libcheck.host",
               "VM states, autostart, drift and overcommit of a hypervisor", HOST_SCOPE),
    CheckEntry("pool", "libcheck.pool", "storage pools of a hypervisor", HOST_SCOPE),
)

ALL_CHECKS = CHECKS + HOST_CHECKS

# The executables that are not checks.
TOOLS = ("check_vm_inventory", "check_vm_director_feed")


def by_name(name: str) -> CheckEntry:
    """The entry of a check by its short name (cpu) or executable (check_vm_cpu)."""
    for entry in (*CHECKS, *HOST_CHECKS):
        if name in (entry.name, entry.executable):
            return entry
    raise KeyError(f"no registered check '{name}'")
