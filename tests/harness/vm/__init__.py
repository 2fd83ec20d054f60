"""The real hypervisor: a private libvirtd in a network namespace and commanded QEMU guests."""
