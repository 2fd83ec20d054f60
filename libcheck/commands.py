"""Entry points of the executables: one function per check."""

from libcheck import cpu, runtime


def check_vm_cpu() -> None:
    """check_vm_cpu: CPU usage of a VM."""
    runtime.main(cpu.CHECK)
