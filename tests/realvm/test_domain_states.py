"""A real guest that is not running: the status line says why, as libvirt says it.

The tier's read-write connection pauses the shared guest as `virsh suspend`
does (and resumes it whatever happens); the check, on its read-only
connection, must read libvirt's reason and report it in words.  A pause on a
disk I/O error is made for real too: a guest whose disk image lives on a
tiny tmpfs writes more than fits, and QEMU's default error policy for
ENOSPC (werror=enospc) stops the guest.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest
from harness.checkrun import CheckRun, run_check
from harness.vm.domains import Guest, GuestSpec, guest_name
from harness.vm.pausing import wait_for_pause, write_in_the_background

pytestmark = pytest.mark.realvm

FULL_DISK_MIB = 8
WRITE_MIB = 32
PAUSE_TIMEOUT = 60


def cpu_check(hypervisor, domain: str, state_dir: Path, *args: str) -> CheckRun:
    return run_check("check_vm_cpu", "--connect", hypervisor.uri, "-d", domain, *args,
                     state_dir=state_dir)


def test_a_guest_paused_by_the_user_is_a_warning_that_says_so(hypervisor, guest, tmp_path):
    guest.domain.suspend()
    try:
        state = guest.domain.state()
        run = cpu_check(hypervisor, guest.name, tmp_path / "state")
        stricter = cpu_check(hypervisor, guest.name, tmp_path / "state",
                             "--state-if-paused", "critical", "--state-if-paused-error", "ok")
    finally:
        guest.domain.resume()
    assert state == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER]
    assert (run.returncode, run.stdout) == (
        1, f"VM_CPU WARNING - {guest.name}: paused (by the user)\n")
    assert (stricter.returncode, stricter.stdout) == (
        2, f"VM_CPU CRITICAL - {guest.name}: paused (by the user)\n")
    assert guest.command("idle") == "done"  # the shared guest runs on


@dataclass(frozen=True)
class FullDiskSpec(GuestSpec):
    """A guest whose disks are images on a directory of their own (a small tmpfs)."""

    disk_dir: Path = Path("/nonexistent")

    def disk_path(self, dev):
        return self.disk_dir / f"{self.name}-{dev}.raw"


@pytest.fixture
def small_tmpfs():
    """A tmpfs of FULL_DISK_MIB MiB that QEMU can reach, unmounted afterwards."""
    mount_point = Path(tempfile.mkdtemp(prefix="check_vm-full-"))
    mount_point.chmod(0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FULL_DISK_MIB}m,mode=0755", "tmpfs",
                    str(mount_point)], check=True, capture_output=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True)
        mount_point.rmdir()


@pytest.fixture
def full_disk_guest(hypervisor, guest_image, small_tmpfs):
    """A running guest whose 64 MiB sparse disk vda sits on an 8 MiB tmpfs."""
    spec = FullDiskSpec(guest_name("fulldisk"), guest_image, hypervisor.run_dir, vcpus=1,
                        memory_kib=128 * 1024, disks=("vda",), balloon=False,
                        disk_dir=small_tmpfs)
    vm = Guest(hypervisor, spec)
    try:
        vm.define()
        vm.start()
        yield vm
    finally:
        vm.remove()


def test_a_guest_paused_by_a_full_host_disk_is_critical_and_says_so(hypervisor,
                                                                    full_disk_guest, tmp_path):
    write_in_the_background(full_disk_guest, "vda", WRITE_MIB, PAUSE_TIMEOUT + 30)
    state = wait_for_pause(full_disk_guest, PAUSE_TIMEOUT)
    assert state == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR]
    name = full_disk_guest.name
    run = cpu_check(hypervisor, name, tmp_path / "state")
    assert (run.returncode, run.stdout) == (
        2, f"VM_CPU CRITICAL - {name}: paused (by a disk I/O error: host storage full or "
           "failing?), vda: no space left\n")
    milder = cpu_check(hypervisor, name, tmp_path / "state", "--state-if-paused-error", "warning")
    assert milder.returncode == 1
