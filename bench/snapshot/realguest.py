"""The real-guest target: the realvm tier's libvirtd and guest, from the harness (harness.vm).

The tier's own classes start a libvirtd inside a private network namespace
and boot the tiny commanded QEMU guest (2 vCPUs, disks vda and vdb, a tap
NIC, a virtio balloon with a 2 s stats period). Nothing here runs while
another libvirtd (the realvm tier's, or any other) runs: we wait for it to
go away, then give up with a reason.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Iterator, NamedTuple

from harness.vm import domains, guestimage, host, hypervisor


class Skipped(Exception):
    """The real-guest target cannot run here; the message says why."""


class RealGuest(NamedTuple):
    """Where the checks find the guest."""

    uri: str
    domain: str
    virt_type: str


def other_libvirtd() -> str:
    """The `pgrep -af libvirtd` lines of libvirt daemons running now, or ''."""
    found = subprocess.run(["pgrep", "-af", "libvirtd|virtqemud"], capture_output=True,
                           text=True, check=False).stdout
    own = {str(os.getpid())}
    return "; ".join(line for line in found.splitlines()
                     if line.split(" ", 1)[0] not in own and "pgrep" not in line)


def wait_for_quiet(limit: float, say) -> None:
    """Wait up to `limit` seconds for other libvirt daemons to exit."""
    deadline = time.monotonic() + limit
    running = other_libvirtd()
    if running:
        say(f"real guest: waiting up to {limit:g} s for a running libvirtd to exit "
            f"({running})")
    while running:
        if time.monotonic() > deadline:
            raise Skipped(f"a libvirtd still runs after {limit:g} s ({running}); the realvm "
                          "tier (or another daemon) is using the hypervisor")
        time.sleep(2)
        running = other_libvirtd()


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def real_guest(wait_limit: float, say) -> Iterator[RealGuest]:
    """Start the tier's libvirtd and guest; stop both afterwards, even on failure."""
    wait_for_quiet(wait_limit, say)
    try:
        host.check_machine()
        missing = host.missing_packages()
        if missing:
            raise Skipped(f"packages missing: {' '.join(missing)} (`make test` installs them)")
        image = guestimage.ensure_image()
    except (host.TierUnavailable, host.CommandFailed) as problem:
        raise Skipped(str(problem)) from None
    previous = signal.signal(signal.SIGTERM, _interrupt)
    hv = hypervisor.Hypervisor()
    spec = domains.GuestSpec(domains.guest_name("bench"), image, hv.run_dir, nic=domains.Nic())
    guest = domains.Guest(hv, spec)
    try:
        yield _started(hv, guest, image, (host, hypervisor, domains), say)
    finally:
        with contextlib.suppress(Exception):
            guest.remove()  # destroy, undefine, delete its disk images
        hv.stop()
        signal.signal(signal.SIGTERM, previous)


def _started(hv, guest, image, modules, say) -> RealGuest:
    host, hypervisor, domains = modules
    try:
        say("real guest: starting libvirtd in its namespace (the first connection "
            "probes QEMU for about 10 s)")
        hv.start(hypervisor.usable_virt_type(image))
        say("real guest: booting the guest and waiting for its balloon statistics")
        guest.define()
        guest.start()
    except (host.TierUnavailable, host.CommandFailed, domains.GuestNotReady) as problem:
        raise Skipped(str(problem)) from None
    return RealGuest(hv.uri, guest.name, hv.virt_type)
