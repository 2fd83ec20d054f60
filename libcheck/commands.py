"""Entry points of the executables: one function per check."""

from libcheck import cpu, mem, runtime


def check_vm_cpu() -> None:
    """check_vm_cpu: CPU usage of a VM."""
    runtime.main(cpu.CHECK)


def check_vm_mem() -> None:
    """check_vm_mem: memory used inside a VM."""
    runtime.main(mem.CHECK)
