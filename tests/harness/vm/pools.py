"""Storage for the hypervisor checks' real tier: a small tmpfs, a `dir` pool on it, a volume.

A pool that fills up for real needs a file system that does: a tmpfs of a
few MiB, mounted on a directory of its own that QEMU (libvirt-qemu) and the
monitoring user can enter.  The pool is defined and started through the
tier's read-write connection, a sparse raw volume bigger than the file
system is created in it for a guest's disk vdb (`PoolDiskGuest`), and everything is removed again
in the reverse order, whatever happened in between.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import libvirt

from .domains import Guest, GuestSpec, domain_xml
from .guestimage import make_disk

MIB = 1024 * 1024


@dataclass(frozen=True)
class SpaceFigures:
    """A pool's numbers in bytes, from libvirt (`pool.info()`) or from statvfs."""

    capacity: int
    allocation: int
    available: int

    @property
    def usage(self) -> float:
        """Used space in % of capacity, as check_vm_pool computes it."""
        return 100.0 * (self.capacity - self.available) / self.capacity

    def text(self) -> str:
        """The numbers in MiB, for reports and failure messages."""
        return (f"capacity {self.capacity / MIB:.2f} MiB, allocation "
                f"{self.allocation / MIB:.2f} MiB, available {self.available / MIB:.2f} MiB "
                f"({self.usage:.1f}% used)")


def libvirt_figures(pool: libvirt.virStoragePool) -> SpaceFigures:
    """What libvirt says of the pool now (its numbers as of its last refresh)."""
    _state, capacity, allocation, available = pool.info()
    return SpaceFigures(capacity, allocation, available)


def file_system_figures(path: Path) -> SpaceFigures:
    """The file system's own numbers, counted as check_vm_pool counts them."""
    stats = os.statvfs(path)
    return SpaceFigures(stats.f_blocks * stats.f_frsize,
                        (stats.f_blocks - stats.f_bfree) * stats.f_frsize,
                        stats.f_bavail * stats.f_frsize)


@contextlib.contextmanager
def mounted_tmpfs(size_mib: int, prefix: str) -> Iterator[Path]:
    """A tmpfs of `size_mib` MiB on a fresh 0755 directory under /tmp, unmounted
    and removed afterwards."""
    mount_point = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        mount_point.chmod(0o755)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs",
                        str(mount_point)], check=True, capture_output=True, timeout=30)
        try:
            yield mount_point
        finally:
            subprocess.run(["umount", "-l", str(mount_point)], check=False,
                           capture_output=True, timeout=30)
    finally:
        mount_point.rmdir()


def fill_file(path: Path, mib: int) -> Path:
    """Write `mib` MiB of real (not sparse) data to `path` from the host side."""
    block = b"\xa5" * MIB
    with open(path, "wb") as filler:
        for _ in range(mib):
            filler.write(block)
    return path


def dir_pool_xml(name: str, target: Path) -> str:
    """The XML of a `dir` pool at `target`, as `virsh pool-define-as NAME dir`."""
    return (f"<pool type='dir'><name>{name}</name>"
            f"<target><path>{target}</path></target></pool>")


@contextlib.contextmanager
def started_dir_pool(conn: libvirt.virConnect, name: str,
                     target: Path) -> Iterator[libvirt.virStoragePool]:
    """A `dir` pool defined and started at `target`; stopped and undefined after
    (a pool of that name left by a killed run is removed first)."""
    remove_pool(conn, name)
    pool = conn.storagePoolDefineXML(dir_pool_xml(name, target), 0)
    try:
        pool.create(0)
        yield pool
    finally:
        remove_pool(conn, name)


def remove_pool(conn: libvirt.virConnect, name: str) -> None:
    """Stop and undefine pool `name` if it exists; its files stay."""
    for pool in conn.listAllStoragePools():
        if pool.name() != name:
            continue
        if pool.isActive():
            pool.destroy()
        if pool.isPersistent():
            pool.undefine()


def sparse_volume(pool: libvirt.virStoragePool, name: str, capacity_mib: int) -> Path:
    """Create a raw volume of `capacity_mib` MiB with nothing allocated; its path."""
    xml = (f"<volume><name>{name}</name>"
           f"<capacity unit='MiB'>{capacity_mib}</capacity>"
           f"<allocation unit='MiB'>0</allocation>"
           f"<target><format type='raw'/></target></volume>")
    return Path(pool.createXML(xml, 0).path())


@dataclass(frozen=True)
class PoolDiskSpec(GuestSpec):
    """A guest whose disk vdb is a pool's volume (at `volume`); vda is as usual."""

    volume: Path = Path("/nonexistent")

    def disk_path(self, dev):
        return self.volume if dev == "vdb" else super().disk_path(dev)


class PoolDiskGuest(Guest):
    """A guest of a PoolDiskSpec: its vdb is the volume libvirt made, not a new image."""

    def define(self):
        """Create the images of the disks other than vdb and define the domain."""
        for dev in self.spec.disks:
            if dev != "vdb":
                make_disk(self.spec.disk_path(dev))
        self.domain = self.hypervisor.conn.defineXML(
            domain_xml(self.spec, self.hypervisor.virt_type))
        self.uuid = self.domain.UUIDString()
