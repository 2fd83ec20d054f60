"""The host snapshot store, the snapshot sampler and the sample codec, in-process.

A fake connection answers the bulk call for every domain with its own
statistics, and a fake clock times everything: ages and refreshes are
decided by the test, never by how fast it runs.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import math
import os
import time
from functools import partial
from pathlib import Path
from typing import Callable, Union

import pytest
from harness.fakes import (
    NS,
    UUID,
    FakeClock,
    FakeConnection,
    FakeDomain,
    MemorySlot,
    libvirt_error,
)

from libcheck import hostsnapshot
from libcheck.clocks import Clocks
from libcheck.cpu import CHECK
from libcheck.disk import CHECK as DISK_CHECK
from libcheck.errors import DomainNotFound
from libcheck.hostsnapshot import HostSnapshotStore, SnapshotUnavailable
from libcheck.inspector import Inspector
from libcheck.measure import Measurement, Measurer
from libcheck.rates import BaselinePolicy
from libcheck.runtime import Run
from libcheck.samplecodec import decode_description, decode_sample, encode
from libcheck.sampler import DirectSampler, SnapshotSampler
from libcheck.samples import DomainState, Group, NotBefore

URI = "fake:///system"
BOOT = "0f0e0d0c-0000-4000-8000-000000000001"
UUID2 = "11111111-2222-4333-8444-555555555555"
UUID3 = "99999999-8888-4777-8666-555555555555"
CPU = frozenset({Group.CPU})
Stats = Union[dict, Callable[[], dict]]


def bulk(clock: FakeClock, disks=("vda",), nics=("vnet3",)) -> Callable[[], dict]:
    """What a QEMU domain answers the bulk call with: every group, its devices
    named, and one CPU-second of work per second of the clock."""
    def stats() -> dict:
        answer = {"state.state": 1, "state.reason": 1, "cpu.time": int(clock.mono * NS),
                  "vcpu.current": 2, "vcpu.maximum": 2, "balloon.current": 2097152,
                  "balloon.maximum": 4194304, "balloon.rss": 600000,
                  "block.count": len(disks), "net.count": len(nics)}
        for index, disk in enumerate(disks):
            answer.update({f"block.{index}.name": disk, f"block.{index}.rd.reqs": 10,
                           f"block.{index}.rd.bytes": 4096})
        for index, nic in enumerate(nics):
            answer.update({f"net.{index}.name": nic, f"net.{index}.rx.bytes": 100})
        return answer
    return stats


class HostConnection(FakeConnection):
    """A connection whose domains each answer with their own statistics."""

    def __init__(self, domains: list[FakeDomain], stats_of: dict[str, Stats]) -> None:
        super().__init__(domains)
        self.stats_of = stats_of
        self.bulk_calls = 0

    def _stats(self, domain: FakeDomain) -> dict:
        stats = self.stats_of[domain.name()]
        return dict(stats() if callable(stats) else stats)

    def getAllDomainStats(self, stats: int, flags: int = 0) -> list:
        self.bulk_calls += 1
        return [(domain, self._stats(domain)) for domain in self.domains]

    def domainListGetStats(self, domains: list, stats: int, flags: int = 0) -> list:
        return [(domain, self._stats(domain)) for domain in domains]


class Host:
    """A fake host: its connection, the clocks every part of a run reads, and
    how often a run opened libvirt."""

    def __init__(self, clock: FakeClock, state_dir: Path, domains: list[FakeDomain]) -> None:
        self.clock = clock
        self.state_dir = state_dir
        self.boot = BOOT
        self.connection = HostConnection(domains, {domain.name(): bulk(clock)
                                                   for domain in domains})
        self.opened = 0

    @property
    def clocks(self) -> Clocks:
        return Clocks(self.clock.time, self.clock.monotonic, lambda: self.boot)

    def inspector(self) -> Inspector:
        self.opened += 1
        clocks = self.clocks
        return Inspector(self.connection, URI, clock=clocks.wall, boot_time=clocks.boot_time,
                         boot=clocks.boot)

    def store(self, **kwargs) -> HostSnapshotStore:
        return HostSnapshotStore(str(self.state_dir), URI, self.clocks, **kwargs)

    def sampler(self, max_age: float = 15.0, **kwargs) -> SnapshotSampler:
        """A new run's sampler."""
        return SnapshotSampler(self.store(**kwargs), self.inspector, max_age, self.clocks)

    def refresh(self):
        return self.store().refresh(self.inspector().sample_host, lambda: False)

    def xml_reads(self) -> dict[str, int]:
        return {domain.name(): domain.calls.count("XMLDesc")
                for domain in self.connection.domains}


@pytest.fixture
def host(clock, tmp_path) -> Host:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    return Host(clock, state_dir, [FakeDomain("vm1", UUID, 7), FakeDomain("vm2", UUID2, 8)])


def snapshot_top(host: Host) -> Path:
    (top,) = [path for path in host.state_dir.iterdir()
              if path.name.startswith("hostsnap-") and path.is_dir()]
    return top


# -- publish and look up ----------------------------------------------------------------------

@pytest.mark.parametrize("reference", ["vm1", UUID, UUID.replace("-", ""), UUID.upper(),
                                       UUID.replace("-", "").upper(), "7"])
def test_a_published_domain_is_found_by_name_uuid_or_id(host, reference):
    in_memory = host.refresh()
    for found in (in_memory.find(reference), host.store().find(reference)):
        assert found is not None
        assert (found.sample.identity.name, found.sample.identity.uuid) == ("vm1", UUID)
        assert found.sample.boot_id == BOOT


@pytest.mark.parametrize("reference", ["vm3", "9", UUID3, "VM1", UUID[:-1]])
def test_an_unknown_reference_finds_nothing(host, reference):
    assert host.refresh().find(reference) is None
    assert host.store().find(reference) is None


def test_a_name_is_found_before_an_id_as_the_inspector_looks(clock, tmp_path):
    # Domain "8" has ID 9; domain vm2 has ID 8.
    host = Host(clock, tmp_path, [FakeDomain("8", UUID3, 9), FakeDomain("vm2", UUID2, 8)])
    host.refresh()
    assert host.store().find("8").sample.identity.name == "8"
    assert host.inspector().find("8").name() == "8"
    assert host.store().find("9").sample.identity.name == "8"


def test_every_sample_carries_its_own_time(host):
    host.clock.advance(3.0)
    part = host.refresh().find("vm2")
    assert part.sample.boot_time == host.clock.mono
    assert part.sample.cpu.time_ns == int(host.clock.mono * NS)
    assert host.store().latest().started == host.clock.mono


def test_generations_count_up_and_only_two_are_kept(host):
    for _ in range(4):
        host.refresh()
        host.clock.advance(1.0)
    assert host.store().latest().number == 4
    assert sorted(path.name for path in snapshot_top(host).iterdir()) == ["current", "g-3",
                                                                         "g-4"]


def plant_snapshot(state_dir: Path, name: str, age_days: float) -> Path:
    """A snapshot directory of another URI, with a generation, aged `age_days`."""
    top = state_dir / name
    (top / "g-1").mkdir(mode=0o700, parents=True)
    (top / "g-1" / "u-0").write_text("{}")
    (top / "current").write_text("{}")
    moment = time.time() - age_days * 86400
    os.utime(top, (moment, moment))
    return top


def test_snapshots_of_uris_unchecked_for_a_week_are_pruned(host):
    stale = plant_snapshot(host.state_dir, "hostsnap-" + "a" * 32, 8)
    recent = plant_snapshot(host.state_dir, "hostsnap-" + "b" * 32, 6)
    set_aside = plant_snapshot(host.state_dir, ".hostsnap-" + "c" * 32 + ".discarded-1-2", 0)
    host.refresh()
    assert not stale.exists() and not set_aside.exists()
    assert recent.exists() and (recent / "g-1" / "u-0").exists()
    assert (host.state_dir / ".pruned-snapshots").exists()


@pytest.mark.parametrize("name", [
    "hostsnap-" + "a" * 32 + "\n", "hostsnap-" + "a" * 31, "hostsnap-" + "A" * 32,
    "hostsnap-" + "a" * 32 + ".old", ".hostsnap-" + "c" * 32 + ".discarded-mine",
    ".hostsnap-" + "c" * 32 + ".discarded-1-2.bak"])
def test_pruning_spares_an_operators_directory_of_a_near_miss_name(host, name):
    theirs = plant_snapshot(host.state_dir, name, 30)
    host.refresh()
    assert (theirs / "g-1" / "u-0").exists()


def test_pruning_waits_an_hour_and_spares_a_snapshot_being_refreshed(host):
    host.refresh()  # prunes now, and not again within the hour
    stale = plant_snapshot(host.state_dir, "hostsnap-" + "a" * 32, 8)
    host.refresh()
    assert stale.exists()
    os.utime(host.state_dir / ".pruned-snapshots", (0, 0))
    lock = os.open(host.state_dir / ("hostsnap-" + "a" * 32 + ".lock"),
                   os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        host.refresh()
        assert stale.exists()  # its refresher holds the lock
    finally:
        os.close(lock)
    os.utime(host.state_dir / ".pruned-snapshots", (0, 0))
    host.refresh()
    assert not stale.exists()


# -- a refresh that cannot be saved -----------------------------------------------------------

class NoSpaceOs:
    """The os module, but renames fail as on a full disk."""

    def __getattr__(self, name: str):
        return getattr(os, name)

    @staticmethod
    def rename(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_refresh_that_cannot_be_saved_still_serves_its_run(host, monkeypatch):
    monkeypatch.setattr(hostsnapshot, "os", NoSpaceOs())
    sampler = host.sampler()
    sample = sampler.domain("vm1").sample(CPU)
    assert sample.cpu.time_ns == int(host.clock.mono * NS)
    assert "host snapshot not saved: No space left on device" in sampler.notes
    assert sorted(path.name for path in snapshot_top(host).iterdir()) == []


def test_a_check_whose_snapshot_cannot_be_saved_is_ok_and_says_so(host, monkeypatch):
    monkeypatch.setattr(hostsnapshot, "os", NoSpaceOs())
    stream = io.StringIO()
    code = Run(CHECK, stream=stream, open_inspector=lambda uri: host.inspector(),
               sleep=host.clock.sleep, clocks=host.clocks)(
        ["--connect", URI, "-d", "vm1", "--state-dir", str(host.state_dir)])
    lines = stream.getvalue().splitlines()
    assert code == 0, lines
    assert lines[0].startswith("VM_CPU OK - vm1: 50.0% of 2 vCPUs | "), lines
    assert "host snapshot not saved: No space left on device" in lines[1:]


# -- the device descriptions ------------------------------------------------------------------

def test_unchanged_devices_are_not_read_again(host):
    for _ in range(3):
        host.refresh()  # each by a store of its own: the device list comes from disk
        host.clock.advance(1.0)
    assert host.xml_reads() == {"vm1": 1, "vm2": 1}
    assert host.store().find("vm2").description.devices.disks[0].source \
        == "/var/lib/images/vm1.qcow2"


@pytest.mark.parametrize("devices", [{"disks": ("vda", "vdb")}, {"nics": ("vnet4",)},
                                     {"disks": ()}])
def test_a_changed_device_list_reads_that_domain_again(host, devices):
    host.refresh()
    host.connection.stats_of["vm2"] = bulk(host.clock, **devices)
    host.refresh()
    host.refresh()
    assert host.xml_reads() == {"vm1": 1, "vm2": 2}


def test_a_damaged_device_list_costs_a_read_of_the_xml(host):
    host.refresh()
    generation = snapshot_top(host) / f"g-{host.store().latest().number}"
    (generation / "devices").write_text('{"format": "check_vm-host-snapshot/1", "uri": "'
                                        f'{URI}", "devices": {{"{UUID}": [1, 2]}}}}')
    store = host.store()
    store.refresh(host.inspector().sample_host, lambda: False)
    assert store.notes == [f"host snapshot discarded: the device list: the entry of {UUID} "
                           "is malformed"]
    assert host.xml_reads() == {"vm1": 2, "vm2": 2}


# -- the sampler's rules ----------------------------------------------------------------------

def test_a_fresh_snapshot_serves_without_opening_libvirt(host):
    host.sampler().domain("vm1").sample(CPU)
    host.clock.advance(9.9)  # within two thirds of the 15 s maximum age
    opened, calls = host.opened, host.connection.bulk_calls
    sampler = host.sampler()
    sample = sampler.domain("vm2").sample(CPU)
    assert (host.opened, host.connection.bulk_calls) == (opened, calls)
    assert sample.boot_time == host.clock.mono - 9.9
    assert sampler.notes == []


def test_a_fresh_part_past_two_thirds_of_max_age_is_refreshed_ahead_of_need(host):
    host.refresh()
    host.clock.advance(10.5)
    sampler = host.sampler(max_age=15.0)
    sample = sampler.domain("vm1").sample(CPU)
    assert host.connection.bulk_calls == 2
    assert sample.boot_time == host.clock.mono
    assert sampler.notes == []
    # The next run finds the renewed generation young: a hit.
    host.clock.advance(1.0)
    assert host.sampler(max_age=15.0).domain("vm2").sample(CPU).boot_time == host.clock.mono - 1.0
    assert host.connection.bulk_calls == 2


def test_a_run_that_finds_the_refresh_lock_held_serves_the_fresh_part_without_waiting(host):
    host.refresh()
    host.clock.advance(12.0)
    (lock,) = host.state_dir.glob("hostsnap-*.lock")
    with open(lock, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        sampler = host.sampler(max_age=15.0, monotonic=host.clock.monotonic,
                               sleep=host.clock.sleep)
        sample = sampler.domain("vm1").sample(CPU)
    assert sample.boot_time == host.clock.mono - 12.0  # no pause, no read
    assert (host.opened, host.connection.bulk_calls) == (1, 1)
    assert sampler.notes == []


def test_a_refresh_ahead_of_need_that_fails_leaves_the_fresh_part_serving_with_a_note(host):
    host.refresh()
    host.clock.advance(12.0)

    def daemon_gone(*args):
        raise libvirt_error(1, "the daemon went away")

    host.connection.getAllDomainStats = daemon_gone
    sampler = host.sampler(max_age=15.0)
    sample = sampler.domain("vm1").sample(CPU)
    assert sample.boot_time == host.clock.mono - 12.0
    assert len(sampler.notes) == 1
    assert sampler.notes[0].startswith("host snapshot not refreshed ahead of need: ")
    assert "the daemon went away" in sampler.notes[0]


def test_a_refresh_slower_than_max_age_serves_its_run_once(host):
    host.refresh()
    host.clock.advance(20.0)
    slow_read = host.connection.getAllDomainStats

    def twenty_seconds(*args):
        host.clock.advance(40.0)  # a big or remote host: the read outlasts the max age
        return slow_read(*args)

    host.connection.getAllDomainStats = twenty_seconds
    sample = host.sampler(max_age=15.0).domain("vm1").sample(CPU)
    assert host.connection.bulk_calls == 2  # the first refresh, and this run's one
    assert host.clock.mono - 40.0 <= sample.boot_time <= host.clock.mono


def test_a_snapshot_older_than_max_age_is_refreshed(host):
    host.refresh()
    host.clock.advance(15.5)
    sample = host.sampler(max_age=15.0).domain("vm1").sample(CPU)
    assert host.connection.bulk_calls == 2
    assert sample.boot_time == host.clock.mono
    host.clock.advance(13.0)  # under 20 s: fresh, and not yet due ahead of need (13.3 s)
    host.sampler(max_age=20.0).domain("vm1").sample(CPU)
    assert host.connection.bulk_calls == 2


def test_a_part_older_than_the_baseline_allows_is_refreshed(host):
    host.refresh()
    taken = host.clock.mono
    host.clock.advance(2.0)
    reader = host.sampler().domain("vm1")
    sample = reader.sample(CPU, NotBefore(BOOT, taken + 1.5))
    assert host.connection.bulk_calls == 2
    assert sample.boot_time == taken + 2.0


def test_a_part_newer_than_the_baseline_allows_is_served(host):
    host.refresh()
    taken = host.clock.mono
    host.clock.advance(2.0)
    sample = host.sampler().domain("vm1").sample(CPU, NotBefore(BOOT, taken))
    assert host.connection.bulk_calls == 1
    assert sample.boot_time == taken


def test_a_snapshot_of_another_boot_is_refreshed(host):
    host.refresh()
    host.boot = "another-boot"
    sample = host.sampler().domain("vm1").sample(CPU)
    assert host.connection.bulk_calls == 2
    assert sample.boot_id == "another-boot"


def test_a_missing_domain_costs_one_refresh(host):
    host.refresh()
    host.clock.advance(1.0)
    with pytest.raises(DomainNotFound):
        host.sampler().domain("vm3")
    assert host.connection.bulk_calls == 2


def test_a_domain_new_since_the_snapshot_is_found_by_one_refresh(host):
    host.refresh()
    host.clock.advance(1.0)
    host.connection.domains.append(FakeDomain("vm3", UUID3, 9))
    host.connection.stats_of["vm3"] = bulk(host.clock)
    assert host.sampler().domain("vm3").uuid == UUID3
    assert host.connection.bulk_calls == 2


def test_a_refresh_another_run_made_meanwhile_is_not_repeated(host):
    host.refresh()
    read: list[bool] = []
    assert host.store().refresh(lambda known: read.append(True) or [], lambda: True) is None
    assert read == []


def test_a_refresh_lock_held_too_long_reads_libvirt_directly(host):
    host.refresh()
    (lock,) = host.state_dir.glob("hostsnap-*.lock")
    with open(lock, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(SnapshotUnavailable):
            host.store(lock_timeout=1.0, monotonic=host.clock.monotonic,
                       sleep=host.clock.sleep).refresh(lambda known: [], lambda: False)
        host.clock.advance(20.0)
        sampler = host.sampler(lock_timeout=1.0, monotonic=host.clock.monotonic,
                               sleep=host.clock.sleep)
        sample = sampler.domain("vm1").sample(CPU)
    assert sample.boot_time == host.clock.mono
    assert sampler.notes == ["host snapshot not used: another run held the refresh lock too "
                             "long"]
    assert host.connection.bulk_calls == 1  # the domain was read on its own


def test_a_part_lacking_job_only_numbers_is_completed_without_a_refresh(host):
    # Another client holds vm1's job (a migration): the refresh could not read
    # its balloon's statistics or disk counters, and another would not either.
    answer = host.connection.stats_of["vm1"]
    host.connection.stats_of["vm1"] = lambda: {
        key: value for key, value in answer().items()
        if key != "balloon.rss" and not key.startswith("block.0.rd")}
    host.refresh()
    assert host.store().find("vm1").missing == {Group.MEMORY, Group.DISK}
    host.clock.advance(1.0)
    for group in (Group.MEMORY, Group.DISK, Group.CPU):
        host.sampler().domain("vm1").sample(frozenset({group}))
    assert host.connection.bulk_calls == 1


def test_a_part_timed_after_now_is_not_served(host):
    host.refresh()
    top = snapshot_top(host)
    part = top / f"g-{host.store().latest().number}" / hostsnapshot.lookup_keys("vm1")[0]
    document = json.loads(part.read_bytes())
    document["sample"]["boot_time"] += 0.5
    part.write_text(json.dumps(document))
    store = host.store()
    assert store.find("vm1") is None
    assert store.notes == ["host snapshot discarded: a domain's part: its sample is timed "
                           "after now"]
    host.clock.advance(0.5)
    assert host.store().find("vm1") is not None


def test_generation_numbers_start_again_within_their_pattern(host):
    host.refresh()
    top = snapshot_top(host)
    largest = hostsnapshot.MAX_GENERATION
    (top / f"g-{host.store().latest().number}").rename(top / f"g-{largest}")
    index = json.loads((top / "current").read_bytes())
    (top / "current").write_text(json.dumps({**index, "generation": largest}))
    (top / "g-1234567890123456789").mkdir(mode=0o700)  # beyond the pattern
    numbers = []
    for _ in range(3):
        host.refresh()
        numbers.append(host.store().latest().number)
    assert numbers == [1, 2, 3]
    assert sorted(path.name for path in top.iterdir()) == ["current", "g-2", "g-3"]


def test_a_part_of_another_uri_is_not_served(host):
    host.refresh()
    top = snapshot_top(host)
    part = top / f"g-{host.store().latest().number}" / hostsnapshot.lookup_keys("vm1")[0]
    document = json.loads(part.read_bytes())
    part.write_text(json.dumps({**document, "uri": "fake:///session"}))
    store = host.store()
    assert store.find("vm1") is None
    assert store.notes == ["host snapshot discarded: a domain's part is not this version's "
                           "snapshot of this URI"]


# -- waiting for another run's refresh --------------------------------------------------------

class OtherRun:
    """Another run holding the refresh lock, as a refresher does.  `refresh`
    lets it go for the moment of a whole refresh (the holder's own, as far as
    the waiter can tell), then takes it again."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.path = host.state_dir / (snapshot_top(host).name + ".lock")
        self._fd = -1

    def take(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def let_go(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def refresh(self) -> None:
        self.let_go()
        self.host.refresh()
        self.take()


def waiting_store(host: Host, on_sleep: Callable[[int], None],
                  lock_timeout: float = 5.0) -> HostSnapshotStore:
    """A store whose waits pass on the fake clock, calling `on_sleep` with the
    number of each pause (1 for the first)."""
    def sleep(seconds: float) -> None:
        host.clock.sleep(seconds)
        on_sleep(len(host.clock.sleeps))

    return host.store(lock_timeout=lock_timeout, monotonic=host.clock.monotonic, sleep=sleep)


def no_read(known):
    raise AssertionError("the waiter read the host itself")


def test_a_waiter_is_served_without_the_lock_once_a_refresh_is_published(host):
    host.refresh()
    needed = NotBefore(BOOT, host.clock.mono + 1.5)
    host.clock.advance(2.0)
    other = OtherRun(host)
    other.take()
    try:
        store = waiting_store(host, lambda pause: pause == 4 and other.refresh())
        asked: list[int] = []

        def satisfied() -> bool:
            asked.append(len(host.clock.sleeps))
            part = store.find("vm1")
            return part is not None and part.sample.boot_time >= needed.boot_time

        # The other run holds the lock whenever the waiter looks: only the store
        # can have served it.
        assert store.refresh(no_read, satisfied) is None
    finally:
        other.let_go()
    assert asked == [4]  # once, when `current` changed: not on every pause
    assert store.latest().number == 2
    assert host.connection.bulk_calls == 2
    assert host.clock.sleeps[:4] == sorted(host.clock.sleeps[:4])


def test_a_waiter_is_not_served_by_a_generation_too_old_and_refreshes_after_the_holder(host):
    host.refresh()
    host.clock.advance(2.0)
    other = OtherRun(host)
    other.take()

    def other_run(pause: int) -> None:
        if pause == 3:
            other.refresh()  # published, but older than the waiter needs
        elif pause == 6:
            other.let_go()

    asked: list[int] = []

    def never() -> bool:
        asked.append(len(host.clock.sleeps))
        return False

    try:
        store = waiting_store(host, other_run)
        parts = store.refresh(host.inspector().sample_host, never)
    finally:
        other.let_go()
    assert parts is not None and parts.find("vm1").sample.boot_time == host.clock.mono
    assert asked == [3, 6]  # at the change, and once more with the lock
    assert store.latest().number == 3


def test_a_waiter_whose_current_never_changes_reads_nothing_and_backs_off(host):
    host.refresh()
    other = OtherRun(host)
    other.take()
    asked: list[bool] = []
    try:
        store = waiting_store(host, lambda pause: None, lock_timeout=5.0)
        started = host.clock.mono
        with pytest.raises(SnapshotUnavailable):
            store.refresh(no_read, lambda: asked.append(True) or True)
    finally:
        other.let_go()
    assert asked == []
    assert host.clock.mono - started == pytest.approx(5.0)
    assert len(host.clock.sleeps) < 60  # about ten attempts a second, not a hundred
    assert max(host.clock.sleeps) < 0.121


@pytest.mark.parametrize("hostile", ["fifo", "symlink"])
def test_a_hostile_current_while_waiting_is_refused_and_replaced(host, tmp_path, hostile):
    host.refresh()
    top = snapshot_top(host)
    copy = tmp_path / "index"
    copy.write_bytes((top / "current").read_bytes())
    other = OtherRun(host)
    other.take()

    def plant(pause: int) -> None:
        if pause == 2:
            (top / "current").unlink()
            if hostile == "fifo":
                os.mkfifo(top / "current", 0o600)
            else:
                (top / "current").symlink_to(copy)
        elif pause == 5:
            other.let_go()

    started = time.monotonic()
    try:
        store = waiting_store(host, plant)
        parts = store.refresh(host.inspector().sample_host, lambda: store.latest() is not None)
    finally:
        other.let_go()
    assert time.monotonic() - started < 5
    assert parts is not None  # refused as the index, so the waiter refreshed
    what = "it is not a regular file" if hostile == "fifo" else "it is a symlink"
    assert store.notes == [f"host snapshot discarded: the snapshot's index: {what}"]
    assert (top / "current").is_file() and not (top / "current").is_symlink()
    assert store.latest().number == 2


# -- a first run's samples from the two newest generations -----------------------------------

FIRST_POLICY = BaselinePolicy(shortest_age=1.5, settled_age=5.0, max_age=3600.0)


def first_run(host: Host, check=CHECK, reference: str = "vm1",
              policy: BaselinePolicy = FIRST_POLICY, slot=None) -> Measurement:
    """A run of `check` without a baseline of its own, wired as the runtime
    wires one: the snapshot's reader of the domain offers its earlier sample."""
    domain = host.sampler().domain(reference)
    measurer = Measurer(partial(domain.sample, check.groups), check.counters, policy, 1.5,
                        sleep=host.clock.sleep)
    return measurer.measure(MemorySlot() if slot is None else slot,
                            partial(domain.earlier_sample, check.groups))


def two_generations(host: Host, apart: float) -> None:
    host.refresh()
    host.clock.advance(apart)
    host.refresh()
    host.clock.advance(1.0)


def test_a_first_run_is_measured_between_the_two_newest_generations(host):
    two_generations(host, 2.0)
    slot = MemorySlot()
    measurement = first_run(host, slot=slot)
    assert host.clock.sleeps == []
    assert host.connection.bulk_calls == 2
    assert measurement.basis == "between the two newest host snapshots (no previous sample)"
    assert measurement.interval == pytest.approx(2.0)
    assert measurement.rate("", "time") == pytest.approx(NS)  # one CPU-second a second
    assert measurement.sample.boot_time == host.clock.mono - 1.0
    # Both kept, as a run's own two samples are: the older is the next run's baseline.
    assert [item.boot_time for item in slot.load()] == [host.clock.mono - 3.0,
                                                        host.clock.mono - 1.0]


def assert_measured_within_the_run(host: Host, measurement: Measurement) -> None:
    """Today's path: a pause, and a refresh for the second sample."""
    assert host.clock.sleeps == [1.5]
    assert host.connection.bulk_calls == 3
    assert measurement.basis == "within this run (no previous sample)"
    assert measurement.interval == pytest.approx(2.5)


def test_generations_closer_than_the_sample_interval_serve_no_first_run(host):
    two_generations(host, 1.0)
    assert_measured_within_the_run(host, first_run(host))


def test_an_earlier_generation_older_than_max_age_serves_no_first_run(host):
    two_generations(host, 120.0)
    policy = FIRST_POLICY._replace(max_age=60.0)
    assert_measured_within_the_run(host, first_run(host, policy=policy))


def test_an_earlier_generation_of_another_boot_serves_no_first_run(host):
    host.refresh()
    host.boot = "another-boot"
    host.clock.advance(2.0)
    host.refresh()
    host.clock.advance(1.0)
    assert_measured_within_the_run(host, first_run(host))


def test_an_earlier_part_of_a_restarted_domain_serves_no_first_run(host):
    host.refresh()
    host.connection.domains[0] = FakeDomain("vm1", UUID, 17)  # the same domain, a new ID
    host.clock.advance(2.0)
    host.refresh()
    host.clock.advance(1.0)
    assert_measured_within_the_run(host, first_run(host))


def test_a_domain_absent_from_the_earlier_generation_is_measured_within_the_run(host):
    host.refresh()
    host.connection.domains.append(FakeDomain("vm3", UUID3, 9))
    host.connection.stats_of["vm3"] = bulk(host.clock)
    host.clock.advance(2.0)
    host.refresh()
    host.clock.advance(1.0)
    assert_measured_within_the_run(host, first_run(host, reference="vm3"))


def test_an_earlier_part_lacking_a_group_the_check_needs_serves_no_first_run(host):
    answer = host.connection.stats_of["vm1"]
    host.connection.stats_of["vm1"] = lambda: {key: value for key, value in answer().items()
                                                if not key.startswith("block.0.rd")}
    host.refresh()
    host.connection.stats_of["vm1"] = answer
    host.clock.advance(2.0)
    host.refresh()
    host.clock.advance(1.0)
    assert host.store().find_earlier(UUID).missing == {Group.DISK}
    assert_measured_within_the_run(host, first_run(host, check=DISK_CHECK))
    host.clock.sleeps.clear()
    assert first_run(host, reference="vm2", check=DISK_CHECK).basis == (
        "between the two newest host snapshots (no previous sample)")


def test_a_group_new_since_the_earlier_generation_alone_is_measured_within_the_run(host):
    host.refresh()
    host.connection.stats_of["vm1"] = bulk(host.clock, disks=("vda", "vdb"))
    host.clock.advance(2.0)
    host.refresh()
    host.clock.advance(1.0)
    measurement = first_run(host, check=DISK_CHECK)
    assert host.clock.sleeps == [1.5]
    assert measurement.basis == ("between the two newest host snapshots (no previous sample); "
                                 "vdb over 2.50 s within this run (vdb is new)")
    assert set(measurement.rates) == {"vda", "vdb"}


def test_a_stored_baseline_is_preferred_to_the_earlier_generation(host):
    two_generations(host, 2.0)
    slot = MemorySlot()
    first_run(host, slot=slot)  # stores the second generation's sample
    for _ in range(2):
        host.clock.advance(2.0)
        host.refresh()
    measurement = first_run(host, slot=slot)
    assert measurement.basis == "since the previous run"
    assert measurement.interval == pytest.approx(5.0)  # not the generations' 2.0


def test_a_first_run_whose_stored_baseline_is_refused_says_why(host):
    two_generations(host, 2.0)
    slot = MemorySlot()
    first_run(host, slot=slot)
    stored = slot.load()
    slot.save([old._replace(boot_id="another-boot") for old in stored])
    for _ in range(2):
        host.clock.advance(2.0)
        host.refresh()
    measurement = first_run(host, slot=slot)
    assert measurement.basis == ("between the two newest host snapshots (the monitoring host "
                                 "was restarted since the previous sample)")
    assert measurement.interval == pytest.approx(2.0)


def test_a_first_run_of_a_domain_held_in_a_job_reads_it_alone_for_its_second_sample(host):
    # The bulk read lacks vm1's disk counters; a read of vm1 alone waits for the job.
    bulk_read = host.connection.getAllDomainStats

    def held(stats: int, flags: int = 0) -> list:
        return [(domain, {key: value for key, value in answer.items()
                          if domain.name() != "vm1" or not key.startswith("block.0.rd")})
                for domain, answer in bulk_read(stats, flags)]

    host.connection.getAllDomainStats = held
    two_generations(host, 2.0)
    measurement = first_run(host, check=DISK_CHECK)
    assert host.clock.sleeps == [1.5]
    assert host.connection.bulk_calls == 2  # the two generations: no refresh of its own
    assert measurement.basis == "within this run (no previous sample)"
    assert measurement.interval == pytest.approx(1.5)


def test_a_direct_reader_offers_no_earlier_sample(host):
    assert DirectSampler(host.inspector()).domain("vm1").earlier_sample(CPU) is None


# -- the codec --------------------------------------------------------------------------------

def test_a_sample_and_its_description_survive_the_round_trip(host):
    part = host.refresh().find("vm1")
    assert part.sample.memory.balloon and part.sample.disks and part.sample.nics
    text = json.dumps(encode(part.sample))
    assert decode_sample(json.loads(text)) == part.sample
    assert decode_description(json.loads(json.dumps(encode(part.description)))) \
        == part.description


def test_an_unknown_state_number_decodes_as_no_state(host):
    data = encode(host.refresh().find("vm1").sample)
    data["identity"]["state"] = 99
    assert decode_sample(data).identity.state is DomainState.NOSTATE


def damaged(path: str, value) -> Callable[[dict], None]:
    """An edit of the encoded sample: set the field at the dotted path ("-": remove it)."""
    def edit(data: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[int(key)] if isinstance(data, list) else data[key]
        if value == "-":
            del data[last]
        else:
            data[last] = value
    return edit


MALFORMED = {
    "counter as text": damaged("cpu.time_ns", "12"),
    "counter as boolean": damaged("cpu.time_ns", True),
    "counter as float": damaged("cpu.time_ns", 1.5),
    "required counter null": damaged("cpu.time_ns", None),
    "time not finite": damaged("boot_time", math.nan),
    "time infinite": damaged("boot_time", math.inf),
    "time out of range": damaged("boot_time", 10**400),
    "name a number": damaged("identity.name", 5),
    "no identity": damaged("identity", "-"),
    "vcpus an object": damaged("cpu.vcpus", {}),
    "balloon value as text": damaged("memory.balloon.rss", "1"),
    "balloon a list": damaged("memory.balloon", [1]),
    "disk without name": damaged("disks.0.name", None),
    "state as text": damaged("identity.state", "running"),
    "counter negative": damaged("cpu.time_ns", -1),
    "counter of 65 bits": damaged("cpu.time_ns", 2**64),
    "optional counter negative": damaged("cpu.user_ns", -5),
    "size of 65 bits": damaged("disks.0.capacity", 2**64),
    "nic counter negative": damaged("nics.0.rx_bytes", -1),
    "vCPU count beyond libvirt's": damaged("cpu.vcpu_count", 16385),
    "vCPU index beyond libvirt's": damaged("cpu.vcpus", [{"index": 16384, "time_ns": 1}]),
    "more vCPUs than libvirt's": damaged("cpu.vcpus", [{"index": 0, "time_ns": 1}] * 16385),
    "domain ID negative": damaged("identity.domain_id", -1),
    "domain ID beyond an int": damaged("identity.domain_id", 2**31),
    "state beyond an int": damaged("identity.state", 2**40),
    "balloon value negative": damaged("memory.balloon.rss", -1),
    "balloon of too many entries": damaged("memory.balloon", {f"k{i}": 1 for i in range(65)}),
    "stats period beyond an int": damaged("memory.stats_period", 2**31),
    "time negative": damaged("boot_time", -1.0),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_sample_is_refused(host, case):
    data = encode(host.refresh().find("vm1").sample)
    MALFORMED[case](data)
    with pytest.raises(ValueError):
        decode_sample(data)


def test_a_sample_at_libvirt_s_limits_is_accepted(host):
    data = encode(host.refresh().find("vm1").sample)
    data["cpu"].update(time_ns=2**64 - 1, vcpu_count=16384,
                       vcpus=[{"index": 16383, "time_ns": 0}])
    data["identity"]["domain_id"] = 2**31 - 1
    decoded = decode_sample(data)
    assert (decoded.cpu.time_ns, decoded.cpu.vcpu_count, decoded.cpu.vcpus[0].index) == (
        2**64 - 1, 16384, 16383)


def test_a_refused_value_is_named_short(host):
    data = encode(host.refresh().find("vm1").sample)
    data["cpu"]["time_ns"] = 10**4000
    with pytest.raises(ValueError) as refused:
        decode_sample(data)
    assert str(refused.value) == "a counter of a huge number is out of range"


@pytest.mark.parametrize("value", [None, [], "sample", 7])
def test_a_sample_that_is_not_an_object_is_refused(value):
    with pytest.raises(ValueError):
        decode_sample(value)


def test_a_malformed_description_is_refused(host):
    data = encode(host.refresh().find("vm1").description)
    data["devices"]["nics"][0]["rx_limit_bps"] = "fast"
    with pytest.raises(ValueError):
        decode_description(data)
