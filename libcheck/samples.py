"""Immutable samples of a domain, as the inspector reads them from libvirt.

These types are all a check sees of libvirt: plain values, with libvirt's
"unknown" (-1) already turned into None.  Times are in nanoseconds, memory
in KiB (as libvirt reports it), sizes and traffic in bytes.
"""

from __future__ import annotations

import enum
from types import MappingProxyType

from libcheck.discovery import Description
from libcheck.records import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional

# libvirt's counters and sizes are unsigned 64-bit integers.
MAX_COUNTER = 2**64 - 1
# Domain IDs, state reasons and the balloon's stats period are C ints in libvirt.
MAX_C_INT = 2**31 - 1
# A shared, read-only empty mapping: a safe default for a field.
_EMPTY: Mapping[str, int] = MappingProxyType({})


class Group(enum.Enum):
    """A group of numbers a check asks the inspector for."""

    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"
    NIC = "nic"


# Every group of numbers, as one set.
ALL_GROUPS = frozenset(Group)


class DomainState(enum.Enum):
    """A domain's run state, with libvirt's numbering."""

    NOSTATE = 0
    RUNNING = 1
    BLOCKED = 2
    PAUSED = 3
    SHUTDOWN = 4
    SHUTOFF = 5
    CRASHED = 6
    PMSUSPENDED = 7

    @classmethod
    def from_libvirt(cls, number: int) -> DomainState:
        """Map libvirt's state number, treating unknown numbers as NOSTATE."""
        try:
            return cls(number)
        except ValueError:
            return cls.NOSTATE

    @property
    def words(self) -> str:
        """How the state reads in a status line."""
        return _STATE_WORDS[self]


_STATE_WORDS = {
    DomainState.NOSTATE: "in no known state",
    DomainState.RUNNING: "running",
    DomainState.BLOCKED: "running (blocked on a resource)",
    DomainState.PAUSED: "paused",
    DomainState.SHUTDOWN: "shutting down",
    DomainState.SHUTOFF: "shut off",
    DomainState.CRASHED: "crashed",
    DomainState.PMSUSPENDED: "suspended by guest power management",
}


class DiskError(NamedTuple):
    """A disk's error as libvirt keeps it for a domain paused by an I/O error
    (virDomainDiskErrorCode: 1 unspecified, 2 no space left)."""

    disk: str
    code: int

    @property
    def words(self) -> str:
        """`vdb: no space left`."""
        return f"{self.disk}: {_DISK_ERROR_WORDS.get(self.code, f'error {self.code}')}"


_DISK_ERROR_WORDS = {1: "I/O error", 2: "no space left"}


class DomainIdentity(NamedTuple):
    """Who the domain is and what state it is in; `disk_errors`, for a domain
    paused by an I/O error, the disks that failed (where libvirt tells)."""

    name: str
    uuid: str
    domain_id: Optional[int]
    state: DomainState
    reason: int = 0
    disk_errors: tuple[DiskError, ...] = ()

    @property
    def is_active(self) -> bool:
        """True while the domain has a running (or blocked) QEMU process."""
        return self.state in (DomainState.RUNNING, DomainState.BLOCKED)


class VcpuSample(NamedTuple):
    """One virtual CPU's cumulative times."""

    # The field shadows tuple.index, as libvirt's name for a vCPU's number.
    index: int  # type: ignore[assignment]
    time_ns: Optional[int]
    wait_ns: Optional[int] = None
    delay_ns: Optional[int] = None


class CpuSample(NamedTuple):
    """The domain's cumulative CPU times and its vCPUs."""

    time_ns: int
    vcpu_count: int
    user_ns: Optional[int] = None
    system_ns: Optional[int] = None
    vcpus: tuple[VcpuSample, ...] = ()


class MemorySample(NamedTuple):
    """Balloon statistics (KiB, counters as counts), configured sizes, and
    the balloon device as the domain XML configures it (model, stats period
    in seconds; None where the XML has none)."""

    maximum_kib: Optional[int]
    current_kib: Optional[int]
    balloon: Mapping[str, int] = _EMPTY
    balloon_model: Optional[str] = None
    stats_period: Optional[int] = None


class DiskSample(NamedTuple):
    """One block device's counters and sizes."""

    name: str
    source: Optional[str] = None
    device: Optional[str] = None
    rd_bytes: Optional[int] = None
    wr_bytes: Optional[int] = None
    rd_reqs: Optional[int] = None
    wr_reqs: Optional[int] = None
    rd_total_ns: Optional[int] = None
    wr_total_ns: Optional[int] = None
    fl_reqs: Optional[int] = None
    fl_total_ns: Optional[int] = None
    errors: Optional[int] = None
    capacity: Optional[int] = None
    allocation: Optional[int] = None
    physical: Optional[int] = None


class NicSample(NamedTuple):
    """One network interface's counters, from the guest's point of view."""

    name: Optional[str]
    mac: Optional[str] = None
    source: Optional[str] = None
    rx_bytes: Optional[int] = None
    rx_packets: Optional[int] = None
    rx_errors: Optional[int] = None
    rx_drops: Optional[int] = None
    tx_bytes: Optional[int] = None
    tx_packets: Optional[int] = None
    tx_errors: Optional[int] = None
    tx_drops: Optional[int] = None
    # Bandwidth limits from the domain XML, in bits per second (guest's view).
    rx_limit_bps: Optional[float] = None
    tx_limit_bps: Optional[float] = None


class DomainSample(NamedTuple):
    """Everything read from a domain at one moment.

    `wall_time` is seconds since the epoch (for display and ages);
    `boot_time` is seconds on the monitoring host's boot-time clock
    (never stepped, counting time suspended), which times the intervals, and
    `boot_id` names that host's boot, in which alone it compares (None where
    unknown).  Both clocks are the local host's, whatever host libvirt runs on.
    """

    identity: DomainIdentity
    wall_time: float
    boot_time: float
    cpu: Optional[CpuSample] = None
    memory: Optional[MemorySample] = None
    disks: tuple[DiskSample, ...] = ()
    nics: tuple[NicSample, ...] = ()
    boot_id: Optional[str] = None


class HostPart(NamedTuple):
    """One domain as a read of the whole host found it.

    `sample` holds every group; `description` is what the domain XML says
    of its devices and `signature` the device list it was read for (a later
    read with the same signature needs no XML); `missing` names the groups
    this read could not complete, which a check then reads per domain.
    """

    sample: DomainSample
    description: Optional[Description] = None
    signature: Optional[str] = None
    missing: frozenset[Group] = frozenset()


class NotBefore(NamedTuple):
    """The earliest moment a sample may come from: a time on the boot-time
    clock of the boot `boot_id` (a sample of another boot is not bound by it)."""

    boot_id: Optional[str]
    boot_time: float


class HostDomain(NamedTuple):
    """One domain as the hypervisor's summary lists it: its identity, whether
    it starts with the host, and what it holds while it has a QEMU process
    (vCPUs, and its maximum memory in KiB; None where libvirt did not say)."""

    identity: DomainIdentity
    autostart: bool = False
    vcpus: Optional[int] = None
    memory_kib: Optional[int] = None

    @property
    def has_process(self) -> bool:
        """Whether the domain is active and so holds host resources: it has a
        QEMU process (and an ID) in every state but shut off, paused included."""
        return self.identity.domain_id is not None


class NodeSample(NamedTuple):
    """The host's own CPUs and memory (KiB); `free_kib` None where libvirt
    cannot tell (a driver without memory statistics or NUMA cells)."""

    cpus: int
    memory_kib: int
    free_kib: Optional[int] = None


class HostSummary(NamedTuple):
    """Every domain of one URI and the host's facts, from one read; timed as
    a `DomainSample` is (wall clock, boot-time clock of the boot `boot_id`)."""

    wall_time: float
    boot_time: float
    node: NodeSample
    domains: tuple[HostDomain, ...] = ()
    boot_id: Optional[str] = None


class HostRead(NamedTuple):
    """One read of a whole host: every domain's part, and the hypervisor's
    summary (None where it could not be read)."""

    parts: list[HostPart]
    summary: Optional[HostSummary]


class PoolSample(NamedTuple):
    """One storage pool as libvirt describes it: its state
    (virStoragePoolState), type and target path from its XML, and its sizes
    in bytes as of libvirt's last refresh of it; with volumes asked for, how
    many it holds and the sum of their capacities (None where not read)."""

    name: str
    state: int
    pool_type: Optional[str]
    target: Optional[str]
    capacity: int
    allocation: int
    available: int
    volume_count: Optional[int] = None
    volumes_capacity: Optional[int] = None
