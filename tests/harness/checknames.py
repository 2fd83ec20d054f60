"""The registered checks under the names the tiers and bench/ use for them.

libcheck.registry is the one list of the checks: a tier that goes over "every
check" takes them from here, so a new check is covered without editing the
tier. The names: the executable (check_vm_cpu), the Icinga 2 and Nagios
command (vm_cpu), the status line's title (VM_CPU) and the service that the
shipped apply rules create for it (vm-cpu).
"""

from __future__ import annotations

from libcheck.registry import CHECKS, CheckEntry

EXECUTABLES = tuple(entry.executable for entry in CHECKS)
TITLES = {entry.executable: entry.title for entry in CHECKS}
# The host check of the shipped configuration: a command of its own, no check of its own.
HOST_COMMAND = "vm_alive"


def service_name(entry: CheckEntry) -> str:
    """The service the shipped apply rules give the check: vm-disk-io for vm_disk_io."""
    return entry.command.replace("_", "-")


SERVICES = {service_name(entry): entry.command for entry in CHECKS}
