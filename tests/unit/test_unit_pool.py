"""check_vm_pool's logic with fakes: which URIs are local, the space of a
pool from a (fake) statvfs or from libvirt, per-pool and generic thresholds,
the pools' states, and the order of the problems (libcheck.pool).
"""

from __future__ import annotations

import io
import os
from typing import Callable, Optional

import libvirt
import pytest
from harness.fakes import FakeConnection, libvirt_error

from libcheck.hostruntime import HostRun
from libcheck.inspector import Inspector
from libcheck.pool import (
    LIBVIRT_SOURCE,
    PoolCheck,
    file_system_space,
    is_local,
    libvirt_space,
)
from libcheck.samples import PoolSample

GIB = 1024 ** 3
RUNNING, INACTIVE, BUILDING, DEGRADED, INACCESSIBLE = 2, 0, 1, 3, 4
BLOCK = 4096


class FakeVolume:
    """A virStorageVol: its info() is [type, capacity, allocation]."""

    def __init__(self, capacity: int, allocation: int) -> None:
        self._info = [0, capacity, allocation]

    def info(self) -> list[int]:
        return list(self._info)


class FakePool:
    """A virStoragePool: info() is [state, capacity, allocation, available]."""

    def __init__(self, name: str, state: int = RUNNING, capacity: int = 100 * GIB,
                 allocation: int = 0, pool_type: str = "dir",
                 target: Optional[str] = None, volumes: tuple[FakeVolume, ...] = ()) -> None:
        self._name = name
        self._info = [state, capacity, allocation, capacity - allocation]
        self._target = f"/srv/{name}" if target is None else target
        self._type = pool_type
        self.volumes = volumes
        self.volume_lists = 0

    def name(self) -> str:
        return self._name

    def info(self) -> list[int]:
        return list(self._info)

    def XMLDesc(self, flags: int = 0) -> str:
        return (f"<pool type='{self._type}'><name>{self._name}</name>"
                f"<target><path>{self._target}</path></target></pool>")

    def listAllVolumes(self, flags: int = 0) -> list[FakeVolume]:
        self.volume_lists += 1
        return list(self.volumes)


class PoolConnection(FakeConnection):
    """A fake connection that also lists storage pools."""

    def __init__(self, pools: list[FakePool]) -> None:
        super().__init__([])
        self.pools = pools

    def listAllStoragePools(self, flags: int = 0) -> list[FakePool]:
        return list(self.pools)


def fake_statvfs(blocks: int, bfree: int, bavail: int,
                 seen: Optional[list[str]] = None) -> Callable[[str], os.statvfs_result]:
    def statvfs(path: str) -> os.statvfs_result:
        if seen is not None:
            seen.append(path)
        return os.statvfs_result((BLOCK, BLOCK, blocks, bfree, bavail, 0, 0, 0, 0, 255))
    return statvfs


def run_pool(pools: list[FakePool], *argv: str, uri: str = "test:///fake",
             check: Optional[PoolCheck] = None) -> tuple[int, list[str]]:
    connection = PoolConnection(pools)
    stream = io.StringIO()
    code = HostRun(check or PoolCheck(), stream=stream,
                   open_inspector=lambda uri: Inspector(connection, uri))(
        ["--connect", uri, *argv])
    return code, stream.getvalue().splitlines()


def perfdata(line: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in line.split(" | ", 1)[1].split())


# -- which URI is local ------------------------------------------------------------------------

@pytest.mark.parametrize(("uri", "local"), [
    ("qemu:///system", True),
    ("qemu:///session", True),
    ("qemu+unix:///system", True),
    ("qemu+unix:///system?socket=/run/libvirt/libvirt-sock-ro", True),
    ("qemu+ssh://root@hv1/system", False),
    ("qemu+tcp://hv1/system", False),
    ("qemu+tls://hv1.example/system", False),
    ("qemu+ssh:///system", False),
    ("test:///default", False),
    ("test:///tmp/node.xml", False),
    ("", False),
])
def test_only_a_local_uri_measures_the_pool_paths_here(uri, local):
    assert is_local(uri) is local


# -- where the numbers come from ---------------------------------------------------------------

def test_a_file_system_is_measured_as_an_unprivileged_writer_sees_it():
    pool = PoolSample("p", RUNNING, "dir", "/srv/p", 1, 1, 1)
    # 1000 blocks, 300 free of which 250 for anyone but root.
    space = file_system_space(pool, fake_statvfs(1000, 300, 250)(pool.target))
    assert space.capacity == 1000 * BLOCK
    assert space.available == 250 * BLOCK
    assert space.allocation == 700 * BLOCK
    assert space.used == 750 * BLOCK  # the blocks reserved for root count as used
    assert space.source == "statvfs of /srv/p"


def test_libvirt_numbers_are_kept_as_they_are():
    space = libvirt_space(PoolSample("p", RUNNING, "logical", None, 100, 30, 60, 2, 500))
    assert (space.capacity, space.allocation, space.available, space.used) == (100, 30, 60, 40)
    assert space.volumes_capacity == 500
    assert space.source == LIBVIRT_SOURCE


def test_a_local_dir_pool_is_measured_by_statvfs_of_its_target():
    seen: list[str] = []
    check = PoolCheck(statvfs=fake_statvfs(1000, 300, 250, seen))
    code, lines = run_pool([FakePool("images", target="/var/lib/libvirt/images",
                                     allocation=10 * GIB)],
                           "-v", uri="qemu:///system", check=check)
    assert code == 0, lines
    assert seen == ["/var/lib/libvirt/images"]
    values = perfdata(lines[0])
    assert values["images_capacity"].startswith(f"{1000 * BLOCK}B;")
    assert values["images_available"].startswith(f"{250 * BLOCK}B;")
    assert values["images_allocation"].startswith(f"{700 * BLOCK}B;")
    assert values["images_usage"].startswith("75%;")
    assert "images: numbers from statvfs of /var/lib/libvirt/images" in lines


@pytest.mark.parametrize(("pool", "argv", "uri"), [
    (FakePool("vg", pool_type="logical", target="/dev/vg"), (), "qemu:///system"),
    (FakePool("images"), ("--space-from", "libvirt"), "qemu:///system"),
    (FakePool("images"), (), "qemu+ssh://hv1/system"),
    (FakePool("images"), (), "test:///default"),
])
def test_elsewhere_the_numbers_are_libvirts(pool, argv, uri):
    seen: list[str] = []
    code, lines = run_pool([pool], "-v", *argv, uri=uri,
                           check=PoolCheck(statvfs=fake_statvfs(1000, 300, 250, seen)))
    assert code == 0, lines
    assert seen == []
    assert f"{pool.name()}: numbers from {LIBVIRT_SOURCE}" in lines
    assert perfdata(lines[0])[f"{pool.name()}_capacity"].startswith(f"{100 * GIB}B;")


def test_a_target_that_cannot_be_measured_falls_back_to_libvirt_and_says_why():
    def refused(path: str) -> os.statvfs_result:
        raise PermissionError(13, "Permission denied")

    code, lines = run_pool([FakePool("images", allocation=40 * GIB)], uri="qemu:///system",
                           check=PoolCheck(statvfs=refused))
    assert code == 0, lines
    assert perfdata(lines[0])["images_usage"].startswith("40%;")
    assert lines[1:] == [f"images: cannot measure /srv/images (Permission denied): numbers "
                         f"from {LIBVIRT_SOURCE}"]


# -- volumes -----------------------------------------------------------------------------------

def test_volumes_are_summed_only_when_asked():
    pool = FakePool("thin", volumes=(FakeVolume(40 * GIB, GIB), FakeVolume(80 * GIB, GIB)))
    code, lines = run_pool([pool])
    assert code == 0 and pool.volume_lists == 0
    assert "thin_overcommit" not in perfdata(lines[0])
    code, lines = run_pool([pool], "--volumes")
    values = perfdata(lines[0])
    assert values["thin_volumes_capacity"].startswith(f"{120 * GIB}B;")
    assert values["thin_overcommit"].startswith("1.2;")


def test_an_overcommit_threshold_without_volumes_is_unmeasured():
    code, lines = run_pool([FakePool("thin")], "-w", "thin_overcommit=1")
    assert code == 3, lines
    assert "volumes are summed only with --volumes" in "\n".join(lines)


# -- thresholds --------------------------------------------------------------------------------

POOLS = [FakePool("images", allocation=85 * GIB), FakePool("scratch", allocation=50 * GIB)]


@pytest.mark.parametrize("warning", ["usage=80", "pool_usage=80", "80"])
def test_a_generic_usage_threshold_applies_to_every_pool(warning):
    code, lines = run_pool(POOLS, "-w", warning)
    assert code == 1, lines
    values = perfdata(lines[0])
    assert values["images_usage"] == "85%;80;;0;100"
    assert values["scratch_usage"] == "50%;80;;0;100"


def test_a_pool_threshold_is_that_pools_alone():
    code, lines = run_pool(POOLS, "-w", "usage=90", "-c", "scratch_usage=40")
    assert code == 2, lines
    assert "scratch" in lines[0].split(" | ")[0]
    values = perfdata(lines[0])
    assert values["images_usage"] == "85%;90;;0;100"
    assert values["scratch_usage"] == "50%;90;40;0;100"


def test_a_threshold_on_a_pool_that_does_not_exist_is_unknown():
    code, lines = run_pool(POOLS, "-c", "nosuch_usage=95")
    assert code == 3, lines
    assert len(lines) == 1 and "nosuch" in lines[0]


# -- states and selection ----------------------------------------------------------------------

@pytest.mark.parametrize(("state", "words", "code"), [
    (INACTIVE, "inactive", 2), (BUILDING, "building", 1), (DEGRADED, "degraded", 2),
    (INACCESSIBLE, "inaccessible", 2), (9, "in unknown state 9", 3)])
def test_a_pool_that_is_not_running_makes_its_state(state, words, code):
    got, lines = run_pool([FakePool("images"), FakePool("broken", state=state)])
    assert got == code, lines
    assert lines[0].split(" - ", 1)[1].startswith(f"test:///fake: broken: {words}")
    # Its numbers are left out: libvirt's are not worth reading for such a pool.
    assert not any(label.startswith("broken_") for label in perfdata(lines[0]))


@pytest.mark.parametrize("option", ["inactive", "building", "degraded", "inaccessible"])
def test_each_pool_state_takes_its_own_option(option):
    state = {"inactive": INACTIVE, "building": BUILDING, "degraded": DEGRADED,
             "inaccessible": INACCESSIBLE}[option]
    pools = [FakePool("images"), FakePool("broken", state=state)]
    code, lines = run_pool(pools, f"--state-if-{option}", "ok")
    assert code == 0, lines
    assert lines[0].startswith("VM_POOL OK - test:///fake: images 0.0% of 100.0 GiB used | ")
    code, lines = run_pool(pools, f"--state-if-{option}", "unknown")
    assert code == 3, lines
    assert lines[0].startswith(f"VM_POOL UNKNOWN - test:///fake: broken: {option} | ")


@pytest.mark.parametrize(("pools", "argv", "text"), [
    ([], (), "no storage pool"),
    ([FakePool("a")], ("--exclude-pool", "a"), "no storage pool"),
    ([FakePool("a")], ("--pool", "x", "--state-if-missing", "ok"), "no storage pool selected"),
    ([FakePool("a", state=INACTIVE)], ("--state-if-inactive", "ok"),
     "no storage pool is running"),
])
def test_a_host_without_a_running_pool_to_judge_is_ok(pools, argv, text):
    code, lines = run_pool(pools, *argv)
    assert (code, lines[0]) == (0, f"VM_POOL OK - test:///fake: {text}")


def test_pools_are_chosen_by_name_and_excluded_by_name():
    pools = [FakePool("a"), FakePool("b"), FakePool("c", state=INACTIVE)]
    code, lines = run_pool(pools, "--pool", "a", "--pool", "c", "--exclude-pool", "c")
    assert code == 0, lines
    assert {label.split("_")[0] for label in perfdata(lines[0])} == {"a"}


def test_a_missing_pool_is_named_and_critical_unless_told():
    code, lines = run_pool([FakePool("a")], "--pool", "a", "--pool", "gone")
    assert code == 2, lines
    assert lines[0].startswith("VM_POOL CRITICAL - test:///fake: gone: no such storage pool")
    code, lines = run_pool([FakePool("a")], "--pool", "gone", "--state-if-missing", "warning")
    assert code == 1, lines
    assert lines[0].startswith("VM_POOL WARNING - test:///fake: gone: no such storage pool")


def test_pool_problems_go_worst_first_and_the_rest_are_counted():
    pools = [FakePool(f"b{index}", state=BUILDING) for index in range(4)]
    pools.append(FakePool("z-inactive", state=INACTIVE))
    code, lines = run_pool(pools)
    assert code == 2, lines
    assert lines[0] == ("VM_POOL CRITICAL - test:///fake: z-inactive: inactive; b0: building; "
                        "b1: building (+2 more)")
    assert lines[1:] == ["z-inactive: inactive"] + [f"b{index}: building" for index in range(4)]


def test_a_pool_undefined_during_the_read_is_left_out():
    class Vanishing(FakePool):
        def info(self) -> list[int]:
            raise libvirt_error(libvirt.VIR_ERR_NO_STORAGE_POOL, "Storage pool not found")

    code, lines = run_pool([FakePool("a"), Vanishing("gone")])
    assert code == 0, lines
    assert {label.split("_")[0] for label in perfdata(lines[0])} == {"a"}


def test_a_pool_libvirt_fails_on_is_one_unknown_line():
    class Failing(FakePool):
        def info(self) -> list[int]:
            raise libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, "backend exploded\nsecond line")

    code, lines = run_pool([Failing("bad")])
    assert code == 3
    assert lines == ["VM_POOL UNKNOWN - libvirt failed on storage pool 'bad' while reading its "
                     "size: backend exploded"]


def test_a_volume_deleted_while_its_pool_is_read_is_left_out_of_the_sum():
    class DeletedVolume(FakeVolume):
        def info(self) -> list[int]:
            raise libvirt_error(libvirt.VIR_ERR_NO_STORAGE_VOL, "Storage volume not found")

    pool = FakePool("a", volumes=(FakeVolume(40 * GIB, GIB), DeletedVolume(80 * GIB, GIB)))
    code, lines = run_pool([pool], "--volumes")
    assert code == 0, lines
    assert perfdata(lines[0])["a_volumes_capacity"] == f"{40 * GIB}B;;;0"
