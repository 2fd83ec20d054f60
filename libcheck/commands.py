"""Entry points of the executables: one function per check.

Each imports only its own check module, so a run loads nothing it does not use.
"""

from libcheck import runtime


def check_vm_cpu() -> None:
    """check_vm_cpu: CPU usage of a VM."""
    from libcheck.cpu import CHECK

    runtime.main(CHECK)


def check_vm_mem() -> None:
    """check_vm_mem: memory used inside a VM."""
    from libcheck.mem import CHECK

    runtime.main(CHECK)


def check_vm_disk_io() -> None:
    """check_vm_disk_io: disk I/O of a VM, per disk."""
    from libcheck.disk import CHECK

    runtime.main(CHECK)


def check_vm_nic() -> None:
    """check_vm_nic: network traffic of a VM, per interface."""
    from libcheck.nic import CHECK

    runtime.main(CHECK)
