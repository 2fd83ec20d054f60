"""A real QEMU guest for a module of the Icinga or graphing tier.

The realvm tier's session fixtures `hypervisor` and `guest` when the module
sees them (it does not while they live in tests/realvm/conftest.py),
otherwise a hypervisor and guest of the module's own, built with the realvm
helpers and torn down when the module ends (before the realvm tier starts
its own: the tier's libvirtd is one per machine).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

from harness.skips import unavailable
from harness.vm.domains import Guest, GuestSpec, Nic, guest_name
from harness.vm.guestimage import ensure_image
from harness.vm.host import TierUnavailable, check_machine, ensure_packages
from harness.vm.hypervisor import Hypervisor, usable_virt_type


@contextlib.contextmanager
def own_guest(role: str) -> Iterator[tuple[Hypervisor, Guest]]:
    """A hypervisor and a running guest like the realvm tier's, named after `role`."""
    try:
        check_machine()
        ensure_packages()
        image = ensure_image()
    except TierUnavailable as exc:
        unavailable(f"realvm tier cannot run: {exc}")
    hypervisor = Hypervisor()
    try:
        try:
            hypervisor.start(usable_virt_type(image))
        except TierUnavailable as exc:
            unavailable(f"realvm tier cannot run: {exc}")
        vm = Guest(hypervisor, GuestSpec(guest_name(role), image, hypervisor.run_dir,
                                         nic=Nic()))
        try:
            vm.define()
            vm.start()
            yield hypervisor, vm
        finally:
            vm.remove()
    finally:
        hypervisor.stop()


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
