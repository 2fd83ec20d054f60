"""Real hypervisor tier: a private libvirtd in a network namespace, QEMU guests."""
