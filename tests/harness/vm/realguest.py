"""A real hypervisor and guest for a tier: prerequisites, the private libvirtd, guests.

The realvm tier's session fixtures, the package tier's VMs and the real guest
of the Icinga, graphing and cluster tiers are all made of the same three
steps: the guest image on a host that can run it (`prepared_image`), the
tier's libvirtd started and stopped (`running_hypervisor`), and guests
defined and started (`started_guest`). Where the machine cannot host them,
the tier skips with the reason, or fails with it when CI=true.

`module_guest` gives a module of the Icinga, graphing or cluster tier the
realvm tier's session fixtures `hypervisor` and `guest` when the module sees
them (it does not while they live in tests/realvm/conftest.py), otherwise a
hypervisor and guest of the module's own, torn down when the module ends
(before the realvm tier starts its own: the tier's libvirtd is one per
machine).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

from harness.skips import unavailable

from .domains import Guest, GuestSpec, Nic, guest_name
from .guestimage import GuestImage, ensure_image
from .host import TierUnavailable, check_machine, ensure_packages
from .hypervisor import Hypervisor, usable_virt_type


def prepared_image(tier: str) -> GuestImage:
    """The cached guest image, on a root Debian host with libvirt and QEMU installed."""
    try:
        check_machine()
        ensure_packages()
        return ensure_image()
    except TierUnavailable as exc:
        unavailable(f"{tier} tier cannot run: {exc}")


@contextlib.contextmanager
def running_hypervisor(image: GuestImage, tier: str) -> Iterator[Hypervisor]:
    """The tier's libvirtd in its own network namespace, stopped at the end."""
    hypervisor = Hypervisor()
    try:
        try:
            hypervisor.start(usable_virt_type(image))
        except TierUnavailable as exc:
            unavailable(f"{tier} tier cannot run: {exc}")
        yield hypervisor
    finally:
        hypervisor.stop()


def started_guest(hypervisor: Hypervisor, spec: GuestSpec) -> Guest:
    """Define and start a guest; on any failure remove it again."""
    vm = Guest(hypervisor, spec)
    try:
        vm.define()
        vm.start()
    except BaseException:
        vm.remove()
        raise
    return vm


@contextlib.contextmanager
def own_guest(role: str) -> Iterator[tuple[Hypervisor, Guest]]:
    """A hypervisor and a running guest like the realvm tier's, named after `role`."""
    image = prepared_image("realvm")
    with running_hypervisor(image, "realvm") as hypervisor:
        vm = started_guest(hypervisor, GuestSpec(guest_name(role), image, hypervisor.run_dir,
                                                 nic=Nic()))
        try:
            yield hypervisor, vm
        finally:
            vm.remove()


@contextlib.contextmanager
def module_guest(request: pytest.FixtureRequest,
                 role: str) -> Iterator[tuple[Hypervisor, Guest]]:
    """The realvm tier's hypervisor and guest if the requesting module sees them,
    else our own."""
    try:
        shared = request.getfixturevalue("hypervisor"), request.getfixturevalue("guest")
    except pytest.FixtureLookupError:
        shared = None
    if shared:
        yield shared
        return
    with own_guest(role) as pair:
        yield pair
