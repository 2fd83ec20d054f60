"""Hand-made stand-ins for the system boundaries of the unit tier.

Everything a unit test needs instead of libvirt, the clock or the state
store lives here: sample builders, a fake clock whose `sleep` advances
time, an in-memory state slot that stores snapshots the way the real one
does (through JSON, so the monotonic time is lost), real
`libvirt.libvirtError` instances with a chosen error code, and small fake
connection and domain objects that answer like libvirt's.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import libvirt

from libcheck.rates import Counters, Snapshot
from libcheck.samples import (
    CpuSample,
    DiskSample,
    DomainIdentity,
    DomainSample,
    DomainState,
    VcpuSample,
)

NS = 1_000_000_000
START_WALL = 1_700_000_000.0
START_MONO = 5_000.0
UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"


# -- time ----------------------------------------------------------------------

class FakeClock:
    """A wall clock and a monotonic clock that move only when told to."""

    def __init__(self, wall: float = START_WALL, mono: float = START_MONO) -> None:
        self.wall = wall
        self.mono = mono
        self.sleeps: list[float] = []

    def advance(self, seconds: float) -> None:
        """Let time pass without anyone sleeping."""
        self.wall += seconds
        self.mono += seconds

    def sleep(self, seconds: float) -> None:
        """What the code under test calls instead of time.sleep."""
        self.sleeps.append(seconds)
        self.advance(seconds)

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


# -- samples -------------------------------------------------------------------

def identity(name: str = "vm1", domain_id: Optional[int] = 1,
             state: DomainState = DomainState.RUNNING) -> DomainIdentity:
    """A domain identity with test defaults."""
    return DomainIdentity(name=name, uuid=UUID, domain_id=domain_id, state=state)


def sample(clock: FakeClock, cpu_ns: int = 0, *, vcpu_count: int = 2,
           domain_id: Optional[int] = 1, state: DomainState = DomainState.RUNNING,
           vcpus: Sequence[VcpuSample] = (), disks: Iterable[tuple[str, int]] = (),
           user_ns: Optional[int] = None, system_ns: Optional[int] = None,
           name: str = "vm1") -> DomainSample:
    """A sample taken at the clock's current time.

    `disks` is (name, rd_bytes) pairs; an inactive domain has no CPU part.
    """
    ident = identity(name, domain_id, state)
    cpu = None
    if ident.is_active:
        cpu = CpuSample(time_ns=cpu_ns, vcpu_count=vcpu_count, user_ns=user_ns,
                        system_ns=system_ns, vcpus=tuple(vcpus))
    return DomainSample(
        identity=ident, wall_time=clock.wall, boot_time=clock.mono, cpu=cpu,
        disks=tuple(DiskSample(name=disk, rd_bytes=rd) for disk, rd in disks))


def cpu_and_disk_counters(sample: DomainSample) -> Counters:
    """A check's `counters`: CPU time for the domain, read bytes per disk."""
    counters: dict[str, dict[str, float]] = {"": {"time": sample.cpu.time_ns}}
    for disk in sample.disks:
        counters[disk.name] = {"rd_bytes": disk.rd_bytes}
    return counters


class ScriptedReader:
    """A `read` callable: each call samples the clock with the next scripted values.

    Each script item is a dict of keyword arguments for `sample()`.
    """

    def __init__(self, clock: FakeClock, script: Iterable[dict[str, Any]]) -> None:
        self._clock = clock
        self._script = list(script)
        self.reads = 0

    def __call__(self, not_before=None) -> DomainSample:
        if self.reads >= len(self._script):
            raise AssertionError(f"read #{self.reads + 1} was not expected")
        kwargs = self._script[self.reads]
        self.reads += 1
        return sample(self._clock, **kwargs)


def snapshot(wall: float, cpu_ns: float = 0, domain_id: Optional[int] = 1,
             **groups: dict[str, float]) -> Snapshot:
    """A stored-looking snapshot (no monotonic time) with a domain CPU counter."""
    counters = {"": {"time": cpu_ns}, **groups}
    return Snapshot(wall_time=wall, domain_id=domain_id, counters=counters)


class MemorySlot:
    """A StateSlot that keeps its snapshots in memory, as JSON like the real one."""

    def __init__(self, snapshots: Iterable[Snapshot] = ()) -> None:
        self._stored = self._encode(snapshots)
        self.saves = 0

    @staticmethod
    def _encode(snapshots: Iterable[Snapshot]) -> str:
        return json.dumps([item.to_json() for item in snapshots])

    def load(self) -> list[Snapshot]:
        return [Snapshot.from_json(item) for item in json.loads(self._stored)]

    def save(self, snapshots: list[Snapshot]) -> None:
        self.saves += 1
        self._stored = self._encode(snapshots)


# -- libvirt -------------------------------------------------------------------

def libvirt_error(code: int, message: str = "something failed") -> libvirt.libvirtError:
    """A real libvirtError whose get_error_code()/get_error_message() answer as given.

    libvirtError's constructor picks up the thread's last libvirt error, which
    another test may have left behind, so `err` is always set explicitly:
    (code, domain, message, level, str1, str2, str3, int1, int2).
    """
    error = libvirt.libvirtError(message)
    error.err = (code, libvirt.VIR_FROM_NONE, message, libvirt.VIR_ERR_ERROR,
                 None, None, None, 0, 0)
    error.args = (message,)
    return error


DOMAIN_XML = """\
<domain type='kvm'>
  <name>vm1</name>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/images/vm1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sdb' bus='sata'/>
    </disk>
    <disk type='block' device='disk'>
      <source dev='/dev/vg0/data'/>
    </disk>
    <interface type='bridge'>
      <mac address='52:54:00:12:34:56'/>
      <source bridge='br0'/>
      <target dev='vnet3'/>
    </interface>
    <interface type='user'>
      <mac address='52:54:00:ab:cd:ef'/>
    </interface>
  </devices>
</domain>
"""


class FakeDomain:
    """A virDomain that answers the per-domain calls the inspector makes.

    `failures` maps a method name to the libvirtError it raises; `calls`
    records every call by method name.
    """

    def __init__(self, name: str = "vm1", uuid: str = UUID, domain_id: int = 7,
                 state: tuple[int, int] = (1, 1), failures: Optional[dict] = None) -> None:
        self._name = name
        self._uuid = uuid
        self._id = domain_id
        self._state = state
        self.failures = dict(failures or {})
        self.calls: list[str] = []
        self.info_values = [1, 4194304, 2097152, 2, 12 * NS]
        self.cpu_stats = [{"cpu_time": 12 * NS, "user_time": 7 * NS, "system_time": 3 * NS}]
        self.vcpu_info = ([(0, 1, 5 * NS, 0), (1, 1, -1, 1)], [(True, True), (True, True)])
        self.memory_stats = {"actual": 2097152, "unused": 1048576, "rss": 600000}
        self.xml = DOMAIN_XML
        self.block_stats = {"vda": (10, 4096, 20, 8192, -1)}
        self.block_timings = {"vda": {"rd_total_times": 1000, "wr_total_times": 2000,
                                      "flush_operations": 3, "flush_total_times": 400}}
        self.block_info = {"vda": (10 * 2**30, 2**30, 2**30)}
        self.interface_stats = {"vnet3": (100, 2, 0, 0, 200, 3, 0, -1)}
        self.disk_errors: dict[str, int] = {}

    def _answer(self, method: str, value: Callable[[], Any]) -> Any:
        self.calls.append(method)
        if method in self.failures:
            raise self.failures[method]
        return value()

    def name(self) -> str:
        return self._name

    def UUIDString(self) -> str:
        return self._uuid

    def ID(self) -> int:
        return self._id

    def state(self) -> list[int]:
        return self._answer("state", lambda: list(self._state))

    def info(self) -> list[int]:
        return self._answer("info", lambda: list(self.info_values))

    def getCPUStats(self, total: bool) -> list[dict]:
        return self._answer("getCPUStats", lambda: self.cpu_stats)

    def vcpus(self):
        return self._answer("vcpus", lambda: self.vcpu_info)

    def memoryStats(self) -> dict:
        return self._answer("memoryStats", lambda: dict(self.memory_stats))

    def XMLDesc(self, flags: int = 0) -> str:
        return self._answer("XMLDesc", lambda: self.xml)

    def blockStats(self, device: str):
        return self._answer("blockStats", lambda: self.block_stats[device])

    def blockStatsFlags(self, device: str, flags: int = 0) -> dict:
        return self._answer("blockStatsFlags", lambda: self.block_timings[device])

    def blockInfo(self, device: str, flags: int = 0):
        return self._answer("blockInfo", lambda: self.block_info[device])

    def interfaceStats(self, device: str):
        return self._answer("interfaceStats", lambda: self.interface_stats[device])

    def diskErrors(self) -> dict:
        return self._answer("diskErrors", lambda: dict(self.disk_errors))


class FakeConnection:
    """A virConnect with lookups and the bulk-stats call.

    `stats` is the dict domainListGetStats returns for the domain (or a
    callable that builds it on each call);
    `stats_failures` are raised by successive bulk calls (None: answer).
    `lookups` records each lookup as "name:X", "uuid:X" or "id:N";
    `autostart` names the domains marked to start with the host, `node_info`
    is getInfo's answer and `memory_stats` getMemoryStats' (None: the driver
    has none, and getFreeMemory answers `free_memory` bytes).
    """

    def __init__(self, domains: Iterable[FakeDomain] = (),
                 stats: Union[dict, Callable[[], dict], None] = None,
                 stats_failures: Iterable[Optional[libvirt.libvirtError]] = (),
                 uri: str = "fake:///system",
                 lookup_failure: Optional[libvirt.libvirtError] = None) -> None:
        self.domains = list(domains)
        self.stats = {"state.state": 1, "state.reason": 1} if stats is None else stats
        self.stats_failures = list(stats_failures)
        self.stats_flags: list[tuple[int, int]] = []
        self.lookups: list[str] = []
        self.lookup_failure = lookup_failure
        self.closed = False
        self._uri = uri
        self.autostart: set[str] = set()
        self.node_info = ["x86_64", 16384, 8, 2000, 1, 1, 8, 1]
        self.memory_stats: Optional[dict] = {"total": 16777216, "free": 4194304}
        self.free_memory = 0

    def getURI(self) -> str:
        return self._uri

    def close(self) -> int:
        self.closed = True
        return 0

    def _lookup(self, kind: str, key: Any, match: Callable[[FakeDomain], bool]) -> FakeDomain:
        self.lookups.append(f"{kind}:{key}")
        if self.lookup_failure is not None:
            raise self.lookup_failure
        for domain in self.domains:
            if match(domain):
                return domain
        raise libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, f"Domain not found: {kind} '{key}'")

    def lookupByName(self, name: str) -> FakeDomain:
        return self._lookup("name", name, lambda domain: domain.name() == name)

    def lookupByUUIDString(self, uuid: str) -> FakeDomain:
        return self._lookup("uuid", uuid, lambda domain: domain.UUIDString() == uuid)

    def lookupByID(self, domain_id: int) -> FakeDomain:
        return self._lookup("id", domain_id, lambda domain: domain.ID() == domain_id)

    def domainListGetStats(self, domains: list, stats: int, flags: int = 0) -> list:
        return [(domains[0], self._stats_answer(stats, flags))]

    def getAllDomainStats(self, stats: int, flags: int = 0) -> list:
        """Every domain, each with the one stats dict (as the host snapshot reads)."""
        answer = self._stats_answer(stats, flags)
        return [(domain, dict(answer)) for domain in self.domains]

    def _stats_answer(self, stats: int, flags: int) -> dict:
        """One bulk call's stats dict, after its recorded flags and planned failure."""
        self.stats_flags.append((stats, flags))
        if self.stats_failures:
            failure = self.stats_failures.pop(0)
            if failure is not None:
                raise failure
        return dict(self.stats() if callable(self.stats) else self.stats)

    def listAllDomains(self, flags: int = 0) -> list:
        if flags & libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART:
            return [domain for domain in self.domains if domain.name() in self.autostart]
        return list(self.domains)

    def getInfo(self) -> list:
        return list(self.node_info)

    def getMemoryStats(self, cell: int, flags: int = 0) -> dict:
        if self.memory_stats is None:
            raise libvirt_error(libvirt.VIR_ERR_NO_SUPPORT, "not supported")
        return dict(self.memory_stats)

    def getFreeMemory(self) -> int:
        return self.free_memory
