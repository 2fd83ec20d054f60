"""check_vm_host and check_vm_pool on a real hypervisor, run as nagios (read-only socket).

A storage pool filling up under a real guest: a `dir` pool on a 32 MiB
tmpfs holds a guest's second disk vdb, a sparse 64 MiB volume; a host-side
filler file takes half the file system.  The guest writes 24 MiB to vdb,
the file system fills after 16, and QEMU's default error policy for ENOSPC
(werror=enospc) pauses the guest.  libvirt's own pool numbers stay those of
the pool's last refresh; check_vm_pool measures the file system and is
CRITICAL at 100%, check_vm_host and check_vm_disk_io name the VM and its
disk.  Deleting the filler frees 16 MiB: the guest, resumed, finishes its
write (8 MiB more) and both checks return to OK.  The fill's tests run in
the order of this file: the last one frees the space.

Drift and autostart: a shut-off domain marked autostart makes check_vm_host
WARNING; against a list of expected domains written by the test, a domain
defined afterwards is "not monitored", one undefined is "gone".
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import libvirt
import pytest
from harness.checkrun import CheckRun
from harness.vm.asnagios import NagiosChecks
from harness.vm.domains import Guest, GuestSpec, guest_name
from harness.vm.hypervisor import remove_domain
from harness.vm.pausing import wait_for_pause, write_in_the_background
from harness.vm.pools import (
    MIB,
    PoolDiskGuest,
    PoolDiskSpec,
    SpaceFigures,
    file_system_figures,
    fill_file,
    libvirt_figures,
    mounted_tmpfs,
    sparse_volume,
    started_dir_pool,
)

pytestmark = pytest.mark.realvm

# A name that is its own perfdata label (no `_` to double).
POOL = "checkvm-realvm-fill"
TMPFS_MIB = 32
FILLER_MIB = 16
VOLUME_MIB = 64
WRITE_MIB = 24
PAUSE_TIMEOUT = 60
WRITE_TIMEOUT = 60
CHECKS_RUN = ("check_vm_host", "check_vm_pool", "check_vm_disk_io")


@pytest.fixture(scope="module")
def nagios():
    """The checks of this module, runnable as nagios."""
    checks = NagiosChecks(CHECKS_RUN)
    yield checks
    checks.remove()


def host_check(nagios: NagiosChecks, hypervisor, *args: str) -> CheckRun:
    """check_vm_host as nagios, in a fresh state directory: its snapshot is new."""
    return nagios.run("check_vm_host", "--connect", hypervisor.uri,
                      "--state-dir", str(nagios.state_directory()), "-v", *args)


def pool_check(nagios: NagiosChecks, hypervisor, *args: str) -> CheckRun:
    return nagios.run("check_vm_pool", "--connect", hypervisor.uri, "--pool", POOL, "-v", *args)


def opening(uri: str, how: str) -> str:
    """Python code that opens `uri` with libvirt.`how` and says so."""
    return f"import libvirt; libvirt.{how}('{uri}').close(); print('opened')"


def test_nagios_reaches_the_read_only_socket_only(nagios, hypervisor):
    read_only = nagios.python(opening(hypervisor.uri, "openReadOnly"))
    read_write = nagios.python(opening(hypervisor.uri, "open"))
    assert read_only.stdout == "opened\n", read_only.stderr
    assert read_write.returncode != 0 and "opened" not in read_write.stdout
    assert "Permission denied" in read_write.stderr, read_write.stderr


@dataclass
class FullPool:
    """The filled pool and its guest, with the pool's numbers before and after the fill."""

    pool: libvirt.virStoragePool
    mount_point: Path
    filler: Path
    vm: Guest
    writer: threading.Thread
    replies: list
    libvirt_before: SpaceFigures
    libvirt_after: SpaceFigures
    libvirt_refreshed: SpaceFigures
    statvfs_before: SpaceFigures
    statvfs_after: SpaceFigures
    pause_state: list
    libvirt_sourced_run: CheckRun


@contextlib.contextmanager
def running_pool_guest(hypervisor, guest_image, volume: Path) -> Iterator[Guest]:
    spec = PoolDiskSpec(guest_name("poolfill"), guest_image, hypervisor.run_dir, vcpus=1,
                        memory_kib=128 * 1024, balloon=False, volume=volume)
    vm = PoolDiskGuest(hypervisor, spec)
    try:
        vm.define()
        vm.start()
        yield vm
    finally:
        vm.remove()


@pytest.fixture(scope="module")
def full_pool(nagios, hypervisor, guest_image) -> Iterator[FullPool]:
    """The guest paused by its full pool, with the pool's numbers measured, and
    check_vm_pool's verdict on libvirt's numbers before the pool is refreshed."""
    with mounted_tmpfs(TMPFS_MIB, "check_vm-pool-") as mount_point:
        filler = fill_file(mount_point / "filler", FILLER_MIB)
        with started_dir_pool(hypervisor.conn, POOL, mount_point) as pool:
            volume = sparse_volume(pool, "vdb.raw", VOLUME_MIB)
            with running_pool_guest(hypervisor, guest_image, volume) as vm:
                libvirt_before = libvirt_figures(pool)
                statvfs_before = file_system_figures(mount_point)
                replies: list = []
                writer = write_in_the_background(vm, "vdb", WRITE_MIB,
                                                 PAUSE_TIMEOUT + WRITE_TIMEOUT + 60, replies)
                pause_state = wait_for_pause(vm, PAUSE_TIMEOUT)
                libvirt_after = libvirt_figures(pool)
                statvfs_after = file_system_figures(mount_point)
                libvirt_sourced = pool_check(nagios, hypervisor, "-c", "95",
                                             "--space-from", "libvirt")
                pool.refresh(0)
                yield FullPool(pool, mount_point, filler, vm, writer, replies,
                               libvirt_before, libvirt_after, libvirt_figures(pool),
                               statvfs_before, statvfs_after, pause_state, libvirt_sourced)


def test_the_guest_pauses_and_libvirt_keeps_the_pool_numbers_of_its_last_refresh(full_pool):
    fill = full_pool
    print(f"\nlibvirt before the fill: {fill.libvirt_before.text()}"
          f"\nstatvfs before the fill: {fill.statvfs_before.text()}"
          f"\nlibvirt after the fill:  {fill.libvirt_after.text()}"
          f"\nstatvfs after the fill:  {fill.statvfs_after.text()}"
          f"\nlibvirt after refresh(): {fill.libvirt_refreshed.text()}")
    assert fill.pause_state == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR]
    assert fill.statvfs_after.available == 0
    grown = fill.statvfs_after.allocation - fill.statvfs_before.allocation
    assert grown >= (TMPFS_MIB - FILLER_MIB - 1) * MIB, fill.statvfs_after.text()
    # The guest's writes never reach libvirt's numbers: they are the start's.
    assert fill.libvirt_after == fill.libvirt_before
    assert fill.libvirt_before.allocation <= (FILLER_MIB + 1) * MIB
    # An explicit refresh (refused to a read-only connection) catches up.
    assert fill.libvirt_refreshed.available == 0
    assert fill.libvirt_refreshed.capacity == fill.statvfs_after.capacity


def test_check_vm_pool_is_critical_at_the_full_file_system(nagios, hypervisor, full_pool):
    run = pool_check(nagios, hypervisor, "-c", "95")
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.status.startswith(f"VM_POOL CRITICAL - {hypervisor.uri}: {POOL} 100.0% ")
    assert run.perfdata[f"{POOL}_usage"].value == 100
    assert run.perfdata[f"{POOL}_available"].value == 0
    assert run.perfdata[f"{POOL}_capacity"].value == full_pool.statvfs_after.capacity
    assert f"{POOL}: numbers from statvfs of {full_pool.mount_point}" in run.lines
    # On libvirt's numbers alone, the full pool would look half empty.
    stale = full_pool.libvirt_sourced_run
    assert stale.returncode == 0, stale.stdout + stale.stderr
    assert stale.perfdata[f"{POOL}_usage"].value == 50
    assert f"{POOL}: numbers from libvirt (as of its last refresh of the pool)" in stale.lines


def test_check_vm_host_names_the_vm_its_disk_and_no_space(nagios, hypervisor, full_pool):
    name = full_pool.vm.name
    run = host_check(nagios, hypervisor)
    problem = (f"{name}: paused (by a disk I/O error: host storage full or failing?), "
               "vdb: no space left")
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.status.startswith(f"VM_HOST CRITICAL - {hypervisor.uri}: {problem}")
    assert problem in run.lines
    assert run.perfdata["paused"].value >= 1


def test_check_vm_disk_io_names_the_disk_that_failed(nagios, hypervisor, full_pool):
    name = full_pool.vm.name
    run = nagios.run("check_vm_disk_io", "--connect", hypervisor.uri, "-d", name,
                     "--state-dir", str(nagios.state_directory()))
    assert (run.returncode, run.stdout) == (
        2, f"VM_DISK_IO CRITICAL - {name}: paused (by a disk I/O error: host storage full or "
           "failing?), vdb: no space left\n"), run.stderr


def test_space_freed_and_the_guest_resumed_both_checks_are_ok(nagios, hypervisor, full_pool):
    full_pool.filler.unlink()
    full_pool.vm.domain.resume()
    full_pool.writer.join(WRITE_TIMEOUT)
    assert full_pool.replies == ["done"], full_pool.vm.console_tail()
    assert full_pool.vm.domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    used = file_system_figures(full_pool.mount_point)
    pool = pool_check(nagios, hypervisor, "-c", "95")
    assert pool.returncode == 0, pool.stdout + pool.stderr
    assert abs(pool.perfdata[f"{POOL}_usage"].value - used.usage) < 1, used.text()
    host = host_check(nagios, hypervisor)
    assert host.returncode == 0, host.stdout + host.stderr
    assert host.status.startswith(f"VM_HOST OK - {hypervisor.uri}: ")
    assert any(line.startswith(f"{full_pool.vm.name}: running") for line in host.lines)


@contextlib.contextmanager
def defined_domain(hypervisor, guest_image, role: str) -> Iterator[Guest]:
    """A domain without disks that is defined, never started, and removed at the end."""
    vm = Guest(hypervisor, GuestSpec(guest_name(role), guest_image, hypervisor.run_dir,
                                     vcpus=1, memory_kib=64 * 1024, disks=(), balloon=False))
    try:
        vm.define()
        yield vm
    finally:
        for domain in hypervisor.conn.listAllDomains():
            if domain.name() == vm.name:
                remove_domain(domain)


def write_expected(nagios: NagiosChecks, hypervisor) -> Path:
    """The expected domains as the inventory would list them: every domain now defined."""
    path = nagios.state_directory() / "expected-domains"
    names = sorted(domain.name() for domain in hypervisor.conn.listAllDomains())
    path.write_text("# domains the monitoring knows\n" + "".join(f"{n}\n" for n in names))
    path.chmod(0o644)
    return path


def test_autostart_down_and_drift_are_warnings_that_name_the_domains(nagios, hypervisor,
                                                                     guest_image):
    with defined_domain(hypervisor, guest_image, "autostart") as marked:
        marked.domain.setAutostart(1)
        expected = write_expected(nagios, hypervisor)
        autostart = host_check(nagios, hypervisor, "--expect-file", str(expected))
        with defined_domain(hypervisor, guest_image, "unlisted") as unlisted:
            marked.domain.undefine()
            drift = host_check(nagios, hypervisor, "--expect-file", str(expected))
    assert autostart.returncode == 1, autostart.stdout + autostart.stderr
    assert autostart.status == (f"VM_HOST WARNING - {hypervisor.uri}: {marked.name}: shut off, "
                                "but marked autostart")
    assert autostart.perfdata["autostart_down"].value == 1
    assert (autostart.perfdata["not_monitored"].value, autostart.perfdata["gone"].value) == (0, 0)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    not_monitored = f"{unlisted.name}: not monitored (not among the expected domains)"
    gone = f"{marked.name}: expected, but not on this hypervisor (removed or migrated?)"
    assert not_monitored in drift.lines and gone in drift.lines
    assert not_monitored in drift.status and gone in drift.status
    assert (drift.perfdata["not_monitored"].value, drift.perfdata["gone"].value) == (1, 1)
    assert drift.perfdata["autostart_down"].value == 0
