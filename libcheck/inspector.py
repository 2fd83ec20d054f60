"""libvirt -> samples: the only module that imports libvirt.

It opens a read-only connection, finds a domain by name, UUID or ID, and
reads it in one bulk-stats round trip where the driver supports it, falling
back to the per-domain calls for each group of numbers the bulk call left
out (libvirt's test driver answers the bulk call with the state only).
What each group asks the bulk call for and how its answer is parsed is
declared in `libcheck.statsgroups`; the per-domain calls are here.
Every libvirtError is translated here into the errors of `libcheck.errors`.
"""

from __future__ import annotations

import contextlib
import functools
import time

import libvirt

from libcheck.bulkstats import device_signature, required, with_balloon_config
from libcheck.bulkstats import known as _known
from libcheck.clocks import boot_clock, boot_id
from libcheck.digests import sha256_hex
from libcheck.discovery import (
    Description,
    DiskDevice,
    NicDevice,
    parse_description,
    parse_pool_target,
)
from libcheck.domainref import Lookup, lookup_order
from libcheck.errors import (
    CheckError,
    ConnectionFailed,
    DomainNotFound,
    DomainVanished,
    LibvirtFailure,
)
from libcheck.records import NamedTuple
from libcheck.samples import (
    ALL_GROUPS,
    CpuSample,
    DiskError,
    DiskSample,
    DomainIdentity,
    DomainSample,
    DomainState,
    Group,
    HostDomain,
    HostPart,
    HostRead,
    HostSummary,
    MemorySample,
    NicSample,
    NodeSample,
    PoolSample,
    VcpuSample,
)
from libcheck.statsgroups import (
    DESCRIBED_GROUPS,
    REFRESHED_GROUPS,
    GroupSpec,
    all_answered,
    job_groups_left_out,
    specs_of,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Mapping, Optional, TypeVar

    T = TypeVar("T")

_NOWAIT = getattr(libvirt, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", 0)
# What the hypervisor's summary needs of every domain, read alone (without
# the host snapshot): the state, vCPUs and memory.
_SUMMARY_FLAGS = (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU
                  | libvirt.VIR_DOMAIN_STATS_BALLOON)
# listAllDomains' filter for the domains marked to start with the host.
_AUTOSTART = libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART


def _stats_flags(groups: frozenset[Group]) -> int:
    """The bulk call's flags for the state and `groups`, named in their records."""
    flags = libvirt.VIR_DOMAIN_STATS_STATE
    for spec in specs_of(groups):
        for name in spec.flags:
            flags |= getattr(libvirt, name)
    return flags


def _without_waiting(query: Callable[[int], T], unsupported: Callable[[], T]) -> T:
    """Run a bulk-stats query with NOWAIT where libvirt has it: a domain stuck
    in a job answers with what it has, not never.  `unsupported` answers for a
    driver without the bulk call."""
    try:
        return query(_NOWAIT)
    except libvirt.libvirtError as error:
        if error.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return unsupported()
        if not _NOWAIT or error.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
            raise
        return query(0)


def _parsed(xml: str) -> Description:
    try:
        return parse_description(xml)
    except ValueError as error:
        raise LibvirtFailure(f"libvirt answered with {error}") from None


def _midpoint(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    """The (wall, boot-time) moment halfway between two readings of the clocks."""
    return (start[0] + end[0]) / 2, (start[1] + end[1]) / 2


def _silence_libvirt_stderr() -> None:
    # libvirt prints every error to stderr by default; ours become one line.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


_KNOWN_DRIVERS = frozenset({
    "qemu", "test", "xen", "lxc", "vz", "bhyve", "ch", "vbox", "vmwareplayer",
    "vmwarews", "vmwarefusion", "esx", "gsx", "vpx", "hyperv", "openvz", "uml",
    "libxl", "xenapi", "phyp", "virtuozzo", "parallels"})


def _connection_hint(error: libvirt.libvirtError, uri: str) -> str:
    message = (error.get_error_message() or str(error)).strip()
    code = error.get_error_code()
    driver = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if driver not in _KNOWN_DRIVERS:
        return (f"cannot connect to libvirt at {uri}: '{driver or uri}' is not a libvirt "
                "driver (check --connect, e.g. qemu:///system or qemu+ssh://host/system)")
    if "Permission denied" in message or code in (
        libvirt.VIR_ERR_AUTH_FAILED,
        libvirt.VIR_ERR_AUTH_UNAVAILABLE,
    ):
        # Never the libvirt group: it owns the read-write socket too (root-equivalent).
        hint = ("no permission on libvirt's read-only socket: allow this user in polkit "
                "(org.libvirt.unix.monitor) or set auth_unix_ro = \"none\" in libvirtd.conf; "
                "not the libvirt group, which grants read-write access")
    elif "No such file or directory" in message or "Connection refused" in message:
        hint = "is libvirtd (or virtqemud) running on this host?"
    elif "no connection driver" in message or code == libvirt.VIR_ERR_NO_CONNECT:
        hint = "check the URI given with --connect (e.g. qemu:///system)"
    else:
        hint = "check --connect and that libvirtd is running"
    return f"cannot connect to libvirt at {uri}: {_first_line(message)} ({hint})"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


_VANISHING_CODES = frozenset({
    libvirt.VIR_ERR_NO_DOMAIN,
    libvirt.VIR_ERR_OPERATION_INVALID,
})


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn a libvirtError raised inside the block into one of our errors."""
    try:
        yield
    except libvirt.libvirtError as error:
        message = _first_line(error.get_error_message() or str(error))
        if error.get_error_code() in _VANISHING_CODES:
            raise DomainVanished(
                f"the domain stopped or vanished while {what}: {message}") from None
        raise LibvirtFailure(f"libvirt failed while {what}: {message}") from None


_UNSUPPORTED_CODES = frozenset({
    libvirt.VIR_ERR_NO_SUPPORT,
    # e.g. getCPUStats on cgroup v2: "cgroup CPUACCT controller is not mounted"
    libvirt.VIR_ERR_OPERATION_INVALID,
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
    libvirt.VIR_ERR_INVALID_ARG,
})


def _optional_call(call: Callable[[], T]) -> Optional[T]:
    """Call a per-device API that a driver may not support: None when it does not;
    any other error goes on to be translated."""
    try:
        return call()
    except libvirt.libvirtError as error:
        if error.get_error_code() in _UNSUPPORTED_CODES:
            return None
        raise


class Inspector:
    """Reads samples of one libvirt connection's domains.

    `connection` is an open virConnect (tests hand in a test-driver one);
    `Inspector.open(uri)` opens the read-only production connection.  A
    sample's time comes from this host's clocks, also for a remote URI:
    `clock` is the wall clock, `boot_time` the boot-time clock that times
    intervals, and `boot` names the boot in which that clock compares.
    """

    def __init__(self, connection: libvirt.virConnect, uri: Optional[str] = None,
                 clock: Callable[[], float] = time.time,
                 boot_time: Callable[[], float] = boot_clock,
                 boot: Callable[[], Optional[str]] = boot_id) -> None:
        self._connection = connection
        self.uri = uri or connection.getURI()
        self._clock = clock
        self._boot_time = boot_time
        self._boot = boot

    @classmethod
    def open(cls, uri: str, **kwargs) -> Inspector:
        """Open a read-only connection to `uri`, or raise ConnectionFailed."""
        _silence_libvirt_stderr()
        try:
            connection = libvirt.openReadOnly(uri)
        except libvirt.libvirtError as error:
            raise ConnectionFailed(_connection_hint(error, uri)) from None
        return cls(connection, uri, **kwargs)

    def close(self) -> None:
        """Close the connection, ignoring a connection that already broke."""
        with contextlib.suppress(libvirt.libvirtError):
            self._connection.close()

    def list_domains(self) -> list[libvirt.virDomain]:
        """Every domain of the connection, active or not (for the inventory only:
        a check never lists domains, it looks its one domain up)."""
        with _translated("listing the domains"):
            return self._connection.listAllDomains(0)

    def hostname(self) -> str:
        """The hypervisor's host name, as libvirt reports it."""
        with _translated("reading the host name"):
            return self._connection.getHostname()

    def pools(self, volumes: bool) -> list[PoolSample]:
        """Every storage pool, active or not, and with `volumes` the sum of
        each active pool's volume capacities (a volume's numbers are fresh:
        libvirt refreshes a volume when asked for its info)."""
        with _translated("listing the storage pools"):
            pools = self._connection.listAllStoragePools(0)
        samples = []
        for pool in pools:
            with contextlib.suppress(_PoolVanished):
                samples.append(self._pool(pool, volumes))
        return sorted(samples, key=lambda sample: sample.name)

    def _pool(self, pool: libvirt.virStoragePool, volumes: bool) -> PoolSample:
        name = pool.name()
        with _pool_call(name, "reading its size"):
            state, capacity, allocation, available = pool.info()
        with _pool_call(name, "reading its XML"):
            xml = pool.XMLDesc(0)
        try:
            pool_type, target = parse_pool_target(xml)
        except ValueError:
            raise LibvirtFailure(f"libvirt answered with an XML of storage pool '{name}' "
                                 "that is not well formed") from None
        count = total = None
        if volumes and state == _POOL_RUNNING:
            with _pool_call(name, "listing its volumes"):
                listed = pool.listAllVolumes(0)
            capacities = [capacity for capacity in map(_volume_capacity, listed)
                          if capacity is not None]
            count, total = len(capacities), sum(capacities)
        return PoolSample(name, int(state), pool_type, target, int(capacity),
                          int(allocation), int(available), count, total)

    def find(self, reference: str) -> libvirt.virDomain:
        """Look a domain up by name, UUID or numeric ID, in the likeliest order."""
        for lookup in self._lookups_for(reference):
            domain = self._try_lookup(lookup, reference)
            if domain is not None:
                return domain
        raise DomainNotFound.of(reference, self.uri)

    def _lookups_for(self, reference: str) -> list[Callable[[str], libvirt.virDomain]]:
        connection = self._connection
        by_kind = {Lookup.UUID: connection.lookupByUUIDString,
                   Lookup.NAME: connection.lookupByName,
                   Lookup.ID: lambda ref: connection.lookupByID(int(ref))}
        return [by_kind[kind] for kind in lookup_order(reference)]

    @staticmethod
    def _try_lookup(lookup: Callable[[str], libvirt.virDomain],
                    reference: str) -> Optional[libvirt.virDomain]:
        try:
            return lookup(reference)
        except libvirt.libvirtError as error:
            if error.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_INVALID_ARG):
                return None
            raise LibvirtFailure(
                f"libvirt failed looking up '{reference}': "
                f"{_first_line(error.get_error_message() or str(error))}") from None

    def sample(self, domain: libvirt.virDomain, groups: frozenset[Group]) -> DomainSample:
        """Read the domain's state and the asked-for groups at one moment.

        The sample's time brackets the calls that read the counters: the bulk
        call, or the per-domain calls of a driver without it; not the XML.
        """
        bulk_started = self._now()
        stats = self._bulk_stats(domain, groups)
        moment = _midpoint(bulk_started, self._now())
        identity = self._identity(domain, stats)
        if not identity.is_active:
            return DomainSample(identity, *moment, boot_id=self._boot_id)
        description = self._describe(domain) if groups & DESCRIBED_GROUPS else None
        return self._read_sample(domain, identity, groups, stats, moment, description)

    def sample_host(self, known: Mapping[str, tuple[str, Description]]) -> HostRead:
        """Every domain of the connection with the refreshed groups, from one
        bulk call, and the hypervisor's summary of the same read.

        `known` maps a domain's UUID to the (signature, description) of an
        earlier read: a domain whose device list in the statistics still
        matches the signature is described from it, without its XML.  A
        driver whose bulk call leaves groups out (the test driver) answers
        them per domain, each domain timed by its own calls.  A domain gone
        during the read is left out.
        """
        started = self._now()
        with _translated("reading every domain's statistics"):
            records = _without_waiting(self._all_stats, self._unstated_domains)
        moment = _midpoint(started, self._now())
        parts = []
        for domain, stats in records:
            with contextlib.suppress(DomainVanished):
                parts.append(self._host_part(domain, stats, moment, known))
        return HostRead(parts, self._summary_if_readable(records, parts, moment))

    def _summary_if_readable(self, records: list[tuple[libvirt.virDomain, dict]],
                             parts: list[HostPart],
                             moment: tuple[float, float]) -> Optional[HostSummary]:
        # A VM check's refresh must not fail on what only check_vm_host reads:
        # without a summary, check_vm_host reads the host itself and says why.
        try:
            return self._summary(records, parts, moment)
        except CheckError:
            return None

    def host_summary(self) -> HostSummary:
        """Every domain's state, autostart, vCPUs and memory, and the host's
        CPUs and memory: what check_vm_host judges, read without the snapshot."""
        started = self._now()

        def query(extra: int) -> list[tuple[libvirt.virDomain, dict]]:
            return [(domain, dict(stats)) for domain, stats in
                    self._connection.getAllDomainStats(_SUMMARY_FLAGS, extra)]

        with _translated("reading every domain's state"):
            records = _without_waiting(query, self._unstated_domains)
        return self._summary(records, [], _midpoint(started, self._now()))

    def _summary(self, records: list[tuple[libvirt.virDomain, dict]], parts: list[HostPart],
                 moment: tuple[float, float]) -> HostSummary:
        identities = {part.sample.identity.uuid: part.sample for part in parts}
        with _translated("listing the domains that start with the host"):
            autostart = {domain.UUIDString() for domain in
                         self._connection.listAllDomains(_AUTOSTART)}
        domains = []
        for domain, stats in records:
            with contextlib.suppress(DomainVanished):
                domains.append(self._host_domain(domain, stats, identities, autostart))
        return HostSummary(*moment, node=self.node(), domains=tuple(domains),
                           boot_id=self._boot_id)

    def _host_domain(self, domain: libvirt.virDomain, stats: dict,
                     samples: Mapping[str, DomainSample], autostart: set[str]) -> HostDomain:
        sample = samples.get(domain.UUIDString())
        identity = sample.identity if sample else self._identity(domain, stats)
        vcpus, memory_kib = _known(stats.get("vcpu.current")), _known(stats.get("balloon.maximum"))
        if sample is not None and sample.cpu is not None:
            vcpus = vcpus or sample.cpu.vcpu_count
        if sample is not None and sample.memory is not None:
            memory_kib = memory_kib or sample.memory.maximum_kib
        if (vcpus is None or memory_kib is None) and identity.domain_id is not None:
            with _translated("reading the domain's vCPUs and memory"):
                _state, max_kib, _cur_kib, count, _cpu_time = domain.info()
            vcpus, memory_kib = vcpus or int(count), memory_kib or _known(max_kib)
        return HostDomain(identity, identity.uuid in autostart, vcpus, memory_kib)

    def node(self) -> NodeSample:
        """The host's CPUs, memory and free memory (KiB)."""
        with _translated("reading the host's CPUs and memory"):
            _model, memory_mib, cpus, *_rest = self._connection.getInfo()
        return NodeSample(cpus=int(cpus), memory_kib=int(memory_mib) * 1024,
                          free_kib=self._free_kib())

    def _free_kib(self) -> Optional[int]:
        """Free memory as the host's memory statistics say, or the sum of its
        NUMA cells' where a driver has no statistics; None where neither tells
        (0 from a driver that knows no cells)."""
        with _translated("reading the host's free memory"):
            stats = _optional_call(lambda: self._connection.getMemoryStats(
                libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS))
            if stats and "free" in stats:
                return int(stats["free"])
            free_bytes = _optional_call(self._connection.getFreeMemory)
        return int(free_bytes) // 1024 if free_bytes else None

    def _all_stats(self, extra: int) -> list[tuple[libvirt.virDomain, dict]]:
        return [(domain, dict(stats)) for domain, stats in
                self._connection.getAllDomainStats(_stats_flags(REFRESHED_GROUPS), extra)]

    def _unstated_domains(self) -> list[tuple[libvirt.virDomain, dict]]:
        return [(domain, {}) for domain in self._connection.listAllDomains(0)]

    def _host_part(self, domain: libvirt.virDomain, stats: dict,
                   moment: tuple[float, float],
                   known: Mapping[str, tuple[str, Description]]) -> HostPart:
        identity = self._identity(domain, stats)
        if not identity.is_active:
            return HostPart(DomainSample(identity, *moment, boot_id=self._boot_id))
        try:
            description, signature = self._known_or_described(domain, identity, stats,
                                                              known.get(identity.uuid))
            sample = self._read_sample(domain, identity, REFRESHED_GROUPS, stats, moment,
                                       description)
        except LibvirtFailure:
            # The check of this domain reads it itself, and reports what fails.
            return HostPart(DomainSample(identity, *moment, boot_id=self._boot_id),
                            missing=ALL_GROUPS)
        missing = job_groups_left_out(stats) | (ALL_GROUPS - REFRESHED_GROUPS)
        return HostPart(sample, description, signature, missing)

    def _known_or_described(self, domain: libvirt.virDomain, identity: DomainIdentity,
                            stats: dict, known: Optional[tuple[str, Description]]
                            ) -> tuple[Description, str]:
        """The domain's description: the known one while its devices are unchanged."""
        signature = device_signature(identity, stats)
        if signature is not None and known is not None and known[0] == signature:
            return known[1], signature
        xml = self.domain_xml(domain)
        if signature is None:
            # No device list in the statistics: the XML's own text stands for it.
            signature = "xml " + sha256_hex(xml.encode("utf-8"))
            if known is not None and known[0] == signature:
                return known[1], signature
        return _parsed(xml), signature

    def _read_sample(self, domain: libvirt.virDomain, identity: DomainIdentity,
                     groups: frozenset[Group], stats: dict, moment: tuple[float, float],
                     description: Optional[Description]) -> DomainSample:
        calls_started = self._now()
        parts = self._read_groups(domain, groups, stats, description)
        if not all_answered(stats, groups):
            moment = _midpoint(calls_started, self._now())
        return DomainSample(identity, *moment, boot_id=self._boot_id, **parts)

    def _now(self) -> tuple[float, float]:
        return self._clock(), self._boot_time()

    @functools.cached_property
    def _boot_id(self) -> Optional[str]:
        # Read once: a process never outlives the boot it started in.
        return self._boot()

    def _describe(self, domain: libvirt.virDomain) -> Description:
        return _parsed(self.domain_xml(domain))

    def domain_xml(self, domain: libvirt.virDomain, inactive: bool = False) -> str:
        """The live domain XML, for device names and metadata; `inactive`: the
        persistent one, the devices the domain gets when it starts (without the
        names libvirt gives taps at start, such as vnet0)."""
        flags, what = ((libvirt.VIR_DOMAIN_XML_INACTIVE, "the inactive domain XML") if inactive
                       else (0, "the domain XML"))
        with _translated(f"reading {what}"):
            return domain.XMLDesc(flags)

    def _bulk_stats(self, domain: libvirt.virDomain, groups: frozenset[Group]) -> dict:
        flags = _stats_flags(groups)

        def query(extra: int) -> dict:
            result = self._connection.domainListGetStats([domain], flags, extra)
            return dict(result[0][1]) if result else {}

        with _translated("reading statistics"):
            stats = _without_waiting(query, dict)
            if _NOWAIT and job_groups_left_out(stats, groups):
                # Another client (a concurrent check) held the domain's job: wait
                # for it, within the plugin's timeout, rather than report a
                # running VM without its disk or balloon numbers.
                return query(0)
        return stats

    @staticmethod
    def _identity(domain: libvirt.virDomain, stats: dict) -> DomainIdentity:
        if "state.state" in stats:
            state, reason = stats["state.state"], stats.get("state.reason", 0)
        else:
            with _translated("reading the domain state"):
                state, reason = domain.state()
        domain_id = domain.ID()
        domain_state = DomainState.from_libvirt(state)
        paused_by_io = domain_state is DomainState.PAUSED and _is_io_error(reason)
        return DomainIdentity(
            name=domain.name(), uuid=domain.UUIDString(),
            domain_id=domain_id if domain_id >= 0 else None,
            state=domain_state, reason=reason,
            disk_errors=_disk_errors(domain) if paused_by_io else ())

    @staticmethod
    def _read_groups(domain: libvirt.virDomain, groups: frozenset[Group],
                     stats: dict, description: Optional[Description]) -> dict:
        return {spec.field: _read_group(spec, domain, stats, description)
                for spec in specs_of(groups)}


def _read_group(spec: GroupSpec, domain: libvirt.virDomain, stats: dict,
                description: Optional[Description]) -> Any:
    """One group from the bulk answer, or from its per-domain calls where the
    bulk call left it out."""
    if spec.answered(stats):
        return spec.from_bulk(stats, description)
    calls = _CALL_READERS[spec.group]
    with _translated(calls.reading):
        return calls.read(domain, description)


_POOL_RUNNING = libvirt.VIR_STORAGE_POOL_RUNNING


class _PoolVanished(Exception):
    """A pool was undefined (or a volume deleted) between the listing and its read."""


@contextlib.contextmanager
def _pool_call(name: str, what: str) -> Iterator[None]:
    """A pool's read: gone meanwhile is skipped, any other failure is ours."""
    try:
        yield
    except libvirt.libvirtError as error:
        if error.get_error_code() in (libvirt.VIR_ERR_NO_STORAGE_POOL,
                                      libvirt.VIR_ERR_NO_STORAGE_VOL):
            raise _PoolVanished() from None
        message = _first_line(error.get_error_message() or str(error))
        raise LibvirtFailure(f"libvirt failed on storage pool '{name}' while {what}: "
                             f"{message}") from None


def _volume_capacity(volume: libvirt.virStorageVol) -> Optional[int]:
    """A volume's capacity; None for one deleted since its pool listed it."""
    try:
        return int(volume.info()[1])
    except libvirt.libvirtError as error:
        if error.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        message = _first_line(error.get_error_message() or str(error))
        raise LibvirtFailure(f"libvirt failed reading a volume's size: {message}") from None


def _is_io_error(reason: int) -> bool:
    """Whether a paused domain's reason is a disk I/O error."""
    # The reasons' enums cost a refresh 1.5 ms to import; only a paused domain asks.
    from libcheck.reasons import Paused

    return reason == Paused.IOERROR


def _disk_errors(domain: libvirt.virDomain) -> tuple[DiskError, ...]:
    """The disks whose error paused the domain, where libvirt tells (none where
    the call fails: the pause is reported either way)."""
    try:
        errors = domain.diskErrors()
    except libvirt.libvirtError:
        return ()
    return tuple(DiskError(disk, int(code)) for disk, code in sorted(errors.items()) if code)


# -- per-domain call fallbacks ----------------------------------------------

def _cpu_from_calls(domain: libvirt.virDomain, _description: Optional[Description]) -> CpuSample:
    _state, _max_kib, _cur_kib, vcpu_count, cpu_time = domain.info()
    totals = _optional_call(lambda: domain.getCPUStats(True))
    total = totals[0] if totals else {}
    vcpu_info = _optional_call(domain.vcpus)
    vcpus = tuple(VcpuSample(index=number, time_ns=_known(time_ns))
                  for number, _vstate, time_ns, _cpu in (vcpu_info[0] if vcpu_info else ()))
    return CpuSample(time_ns=int(cpu_time), vcpu_count=int(vcpu_count),
                     user_ns=_known(total.get("user_time")),
                     system_ns=_known(total.get("system_time")), vcpus=vcpus)


def _memory_from_calls(domain: libvirt.virDomain,
                       description: Optional[Description]) -> MemorySample:
    _state, max_kib, current_kib, _vcpus, _cpu_time = domain.info()
    balloon = _optional_call(domain.memoryStats) or {}
    memory = MemorySample(maximum_kib=_known(max_kib), current_kib=_known(current_kib),
                          balloon={key: int(value) for key, value in balloon.items()})
    return with_balloon_config(memory, required(description))


def _disks_from_calls(domain: libvirt.virDomain,
                      description: Optional[Description]) -> tuple[DiskSample, ...]:
    return tuple(_disk_from_calls(domain, disk) for disk in required(description).devices.disks)


def _nics_from_calls(domain: libvirt.virDomain,
                     description: Optional[Description]) -> tuple[NicSample, ...]:
    return tuple(_nic_from_calls(domain, nic) for nic in required(description).devices.nics)


def _disk_from_calls(domain: libvirt.virDomain, disk: DiskDevice) -> DiskSample:
    if disk.source is None:
        return DiskSample(name=disk.name, device=disk.device)
    counters = _optional_call(lambda: domain.blockStats(disk.name))
    rd_reqs, rd_bytes, wr_reqs, wr_bytes, errors = counters or (None,) * 5
    timings = _optional_call(lambda: domain.blockStatsFlags(disk.name, 0)) or {}
    sizes = _optional_call(lambda: domain.blockInfo(disk.name, 0))
    capacity, allocation, physical = sizes or (None, None, None)
    return DiskSample(
        name=disk.name, source=disk.source, device=disk.device,
        rd_bytes=_known(rd_bytes), wr_bytes=_known(wr_bytes),
        rd_reqs=_known(rd_reqs), wr_reqs=_known(wr_reqs),
        rd_total_ns=_known(timings.get("rd_total_times")),
        wr_total_ns=_known(timings.get("wr_total_times")),
        fl_reqs=_known(timings.get("flush_operations")),
        fl_total_ns=_known(timings.get("flush_total_times")),
        errors=_known(errors), capacity=_known(capacity),
        allocation=_known(allocation), physical=_known(physical))


def _nic_from_calls(domain: libvirt.virDomain, nic: NicDevice) -> NicSample:
    counters = _optional_call(lambda: domain.interfaceStats(nic.name)) if nic.name else None
    values = [_known(value) for value in counters] if counters else [None] * 8
    rx_bytes, rx_packets, rx_errors, rx_drops, tx_bytes, tx_packets, tx_errors, tx_drops = values
    return NicSample(
        name=nic.name, mac=nic.mac, source=nic.source,
        rx_limit_bps=nic.rx_limit_bps, tx_limit_bps=nic.tx_limit_bps,
        rx_bytes=rx_bytes, rx_packets=rx_packets, rx_errors=rx_errors, rx_drops=rx_drops,
        tx_bytes=tx_bytes, tx_packets=tx_packets, tx_errors=tx_errors, tx_drops=tx_drops)


class _CallReader(NamedTuple):
    """A group's per-domain calls, for a driver whose bulk call leaves it out;
    `reading` says what a failure interrupted."""

    reading: str
    read: Callable[[libvirt.virDomain, Optional[Description]], Any]


_CALL_READERS: Mapping[Group, _CallReader] = {
    Group.CPU: _CallReader("reading CPU times", _cpu_from_calls),
    Group.MEMORY: _CallReader("reading memory statistics", _memory_from_calls),
    Group.DISK: _CallReader("reading block statistics", _disks_from_calls),
    Group.NIC: _CallReader("reading interface statistics", _nics_from_calls),
}
