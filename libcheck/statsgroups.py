"""The groups of numbers a check asks for (cpu, memory, disk, nic), each declared once.

A group's record says how the bulk statistics call asks for it and shows
that it answered, what else its numbers need, and how they are parsed from
that answer.  libvirt's stats flags are named here, not imported: only the
inspector imports libvirt, and it resolves the names.  The inspector keeps
the per-domain calls that read a group from a driver without bulk numbers.
"""

from __future__ import annotations

from types import MappingProxyType

from libcheck import bulkstats
from libcheck.bulkstats import required
from libcheck.discovery import Description
from libcheck.records import NamedTuple
from libcheck.samples import ALL_GROUPS, CpuSample, DiskSample, Group, MemorySample, NicSample

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Mapping, Optional

    from libcheck.bulkstats import Stats


class GroupSpec(NamedTuple):
    """How one group of numbers is read from libvirt's bulk statistics.

    `field`: the DomainSample field it fills.  `flags`: the names, in the
    libvirt module, of the stats flags that ask the bulk call for it.
    `bulk_key`: the key whose presence shows that the bulk call answered for
    it.  `described`: whether reading it needs the domain XML's description.
    `refreshed`: whether a refresh of the host snapshot reads it.
    `from_bulk`: its numbers from the bulk answer and the description.
    `job_numbers_left_out`: for a group of which QEMU gives some numbers only
    inside a domain job, whether an answer lacks them.
    """

    group: Group
    field: str
    flags: tuple[str, ...]
    bulk_key: str
    described: bool
    refreshed: bool
    from_bulk: Callable[[Stats, Optional[Description]], Any]
    job_numbers_left_out: Optional[Callable[[Stats], bool]] = None

    def answered(self, stats: Stats) -> bool:
        """Whether the bulk answer holds this group's numbers."""
        return self.bulk_key in stats


def _cpu(stats: Stats, _description: Optional[Description]) -> CpuSample:
    return bulkstats.cpu_from_bulk(stats)


def _memory(stats: Stats, description: Optional[Description]) -> MemorySample:
    return bulkstats.with_balloon_config(bulkstats.memory_from_bulk(stats),
                                         required(description))


def _disks(stats: Stats, description: Optional[Description]) -> tuple[DiskSample, ...]:
    return bulkstats.merge_disks(required(description).devices.disks,
                                 bulkstats.disks_from_bulk(stats))


def _nics(stats: Stats, description: Optional[Description]) -> tuple[NicSample, ...]:
    return bulkstats.merge_nics(required(description).devices.nics,
                                bulkstats.nics_from_bulk(stats))


GROUP_SPECS = (
    GroupSpec(Group.CPU, field="cpu",
              flags=("VIR_DOMAIN_STATS_CPU_TOTAL", "VIR_DOMAIN_STATS_VCPU"),
              bulk_key="cpu.time", described=False, refreshed=True, from_bulk=_cpu),
    # The memory group reads the XML for the balloon's model and stats period.
    GroupSpec(Group.MEMORY, field="memory", flags=("VIR_DOMAIN_STATS_BALLOON",),
              bulk_key="balloon.current", described=True, refreshed=True, from_bulk=_memory,
              job_numbers_left_out=bulkstats.balloon_job_numbers_left_out),
    GroupSpec(Group.DISK, field="disks", flags=("VIR_DOMAIN_STATS_BLOCK",),
              bulk_key="block.count", described=True, refreshed=True, from_bulk=_disks,
              job_numbers_left_out=bulkstats.block_job_numbers_left_out),
    GroupSpec(Group.NIC, field="nics", flags=("VIR_DOMAIN_STATS_INTERFACE",),
              bulk_key="net.count", described=True, refreshed=True, from_bulk=_nics),
)

_SPEC_OF: Mapping[Group, GroupSpec] = MappingProxyType(
    {spec.group: spec for spec in GROUP_SPECS})

# The groups whose numbers need the domain XML's description of its devices.
DESCRIBED_GROUPS = frozenset(spec.group for spec in GROUP_SPECS if spec.described)
# The groups a refresh of the host snapshot reads; a check reads the others itself.
REFRESHED_GROUPS = frozenset(spec.group for spec in GROUP_SPECS if spec.refreshed)


def spec_of(group: Group) -> GroupSpec:
    """The record of one group."""
    return _SPEC_OF[group]


def specs_of(groups: Iterable[Group]) -> tuple[GroupSpec, ...]:
    """The records of the given groups, in their declared order."""
    wanted = frozenset(groups)
    return tuple(spec for spec in GROUP_SPECS if spec.group in wanted)


def all_answered(stats: Stats, groups: Iterable[Group]) -> bool:
    """Whether the bulk answer holds the numbers of every one of `groups`."""
    return all(spec.answered(stats) for spec in specs_of(groups))


def job_groups_left_out(stats: Stats, groups: Iterable[Group] = ALL_GROUPS) -> frozenset[Group]:
    """The groups of an active domain's bulk answer that lack their job-only numbers
    (a NOWAIT call while another client held the domain's job)."""
    if not bulkstats.in_job_state(stats):
        return frozenset()
    return frozenset(spec.group for spec in specs_of(groups)
                     if spec.job_numbers_left_out is not None
                     and spec.job_numbers_left_out(stats))
