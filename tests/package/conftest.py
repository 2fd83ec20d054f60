"""Fixtures of the package tier: the package built and installed, two VMs on the
tier's own hypervisor, and the nagios user's plugin state set aside.

Where the machine cannot host the tier (not root, not Debian, no /dev/net/tun,
apt failing, another test run holding the hypervisor) the tests skip with the
reason, or fail with it when CI=true.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from harness.icinga.environment import ensure_installed
from harness.package import debpackage, nagiosuser
from harness.package.aside import set_aside
from harness.skips import unavailable
from harness.vm.domains import Guest, GuestSpec, Nic, guest_name
from harness.vm.guestimage import GuestImage, ensure_image
from harness.vm.host import TierUnavailable, check_machine, ensure_packages
from harness.vm.hypervisor import Hypervisor, running_daemon
from harness.vm.realguest import running_hypervisor, started_guest


@pytest.fixture(scope="module")
def guest_image() -> GuestImage:
    """A root Debian host with libvirt, QEMU, icinga2 and nagios4; the guest's image."""
    try:
        check_machine()
        ensure_packages()
        ensure_packages(debpackage.RUNTIME_PACKAGES)
        ensure_installed()
        return ensure_image()
    except TierUnavailable as exc:
        unavailable(f"package tier cannot run: {exc}")


@pytest.fixture(scope="module")
def installed(guest_image) -> Iterator[Path]:
    """The package built from this checkout (lintian without errors) and installed;
    purged at the end if it still is."""
    try:
        deb = debpackage.build()
    except debpackage.BuildFailed as exc:
        pytest.fail(f"make deb failed: {exc}", pytrace=False)
    errors = debpackage.lintian_lines("E")
    assert not errors, "lintian reports errors:\n" + "\n".join(errors)
    try:
        debpackage.install(deb)
        yield deb
    finally:
        if debpackage.status() not in ("", "not-installed"):
            debpackage.purge()


@dataclass(frozen=True)
class Vms:
    """The tier's hypervisor, a running guest (2 disks, a NIC) and a shut-off domain."""

    hypervisor: Hypervisor
    running: Guest
    shutoff: Guest


@pytest.fixture(scope="module")
def vms(guest_image) -> Iterator[Vms]:
    """A private libvirtd with one running guest and one domain never started."""
    with contextlib.ExitStack() as undo:
        hypervisor = undo.enter_context(running_hypervisor(guest_image, "package"))
        running = started_guest(hypervisor, GuestSpec(guest_name("package"), guest_image,
                                                      hypervisor.run_dir, nic=Nic()))
        undo.callback(running.remove)
        shutoff = Guest(hypervisor, GuestSpec(guest_name("package-shutoff"), guest_image,
                                              hypervisor.run_dir, vcpus=1, disks=("vda",)))
        undo.callback(shutoff.remove)
        shutoff.define()
        yield Vms(hypervisor, running, shutoff)


@pytest.fixture(scope="module")
def daemons_stopped() -> None:
    """No icinga2 or nagios4 runs yet: the tier starts the packaged ones itself."""
    found = running_daemon({"icinga2", "nagios4"})
    if found:
        name, pid = found
        unavailable(f"package tier cannot run: {name} (pid {pid}) already runs; stop it "
                    f"(kill {pid}) so that the tier can start the packaged one")


@pytest.fixture(scope="module")
def nagios_state() -> Iterator[Path]:
    """nagios's check_vm state directory, absent when the tier starts; what was
    there before comes back at the end."""
    with set_aside(nagiosuser.state_dir()):
        yield nagiosuser.state_dir()
