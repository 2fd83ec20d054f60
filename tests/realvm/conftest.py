"""Session fixtures of the realvm tier: a private libvirtd with real QEMU guests.

`hypervisor` (.uri, .netns), `guest` (a commanded, ready guest), `shutoff_domain`
and `balloonless_guest` (domain names). When the machine cannot host the tier
the fixtures skip with the reason, or fail with it when CI=true.
"""

import signal

import pytest
from harness.vm.domains import Guest, GuestSpec, Nic, guest_name
from harness.vm.realguest import prepared_image, running_hypervisor, started_guest


@pytest.fixture(scope="session")
def guest_image():
    """The cached kernel + initramfs (built, and packages installed, if needed)."""
    return prepared_image("realvm")


def interrupt(signum, frame):
    """SIGTERM handler: unwind like Ctrl-C so that the finalizers still run."""
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def hypervisor(guest_image):
    """The tier's libvirtd in its own network namespace: `.uri`, `.netns`."""
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with running_hypervisor(guest_image, "realvm") as hv:
            yield hv
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def guest(hypervisor, guest_image):
    """A running 2-vCPU guest with disks vda/vdb, a tap NIC and a balloon."""
    spec = GuestSpec(guest_name("guest"), guest_image, hypervisor.run_dir, nic=Nic())
    vm = started_guest(hypervisor, spec)
    yield vm
    vm.remove()


@pytest.fixture(scope="session")
def balloonless_guest(hypervisor, guest_image):
    """Name of a running guest whose memballoon model is none."""
    spec = GuestSpec(
        guest_name("noballoon"), guest_image, hypervisor.run_dir,
        vcpus=1, memory_kib=128 * 1024, disks=(), balloon=False,
    )
    vm = started_guest(hypervisor, spec)
    yield vm.name
    vm.remove()


@pytest.fixture(scope="session")
def shutoff_domain(hypervisor, guest_image):
    """Name of a defined domain (disk vda, balloon) that is never started."""
    spec = GuestSpec(
        guest_name("shutoff"), guest_image, hypervisor.run_dir, vcpus=1, disks=("vda",)
    )
    vm = Guest(hypervisor, spec)
    vm.define()
    yield vm.name
    vm.remove()
