"""check_vm: agentless Nagios/Icinga checks for KVM/QEMU guests through libvirt."""

__version__ = "0.1.0"
