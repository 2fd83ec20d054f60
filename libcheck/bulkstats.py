"""libvirt's bulk statistics -> samples: pure functions of the statistics' mapping.

`getAllDomainStats` (and `domainListGetStats`) answer a domain with one flat
mapping of typed parameters ("cpu.time", "block.0.rd.reqs", "balloon.rss"...).
The functions here turn such a mapping into samples, with the domain XML's
description merged in where the statistics do not say what a device is.
They need no libvirt: the inspector makes the calls and hands the mapping in.
"""

from __future__ import annotations

from libcheck.discovery import Description, DiskDevice, NicDevice
from libcheck.samples import (
    CpuSample,
    DiskSample,
    DomainIdentity,
    DomainState,
    MemorySample,
    NicSample,
    VcpuSample,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Mapping, Optional

    Stats = Mapping[str, Any]

# The balloon's bulk keys ("balloon.<key>") under the names of virDomainMemoryStats.
BALLOON_FIELDS = {
    "current": "actual", "swap_in": "swap_in", "swap_out": "swap_out",
    "major_fault": "major_fault", "minor_fault": "minor_fault",
    "unused": "unused", "available": "available", "usable": "usable",
    "rss": "rss", "last-update": "last_update", "disk_caches": "disk_caches",
    "hugetlb_pgalloc": "hugetlb_pgalloc", "hugetlb_pgfail": "hugetlb_pgfail",
}

# A disk's bulk keys ("block.<N>.<key>") under the names of DiskSample.
DISK_FIELDS = {
    "rd.bytes": "rd_bytes", "wr.bytes": "wr_bytes", "rd.reqs": "rd_reqs", "wr.reqs": "wr_reqs",
    "rd.times": "rd_total_ns", "wr.times": "wr_total_ns",
    "fl.reqs": "fl_reqs", "fl.times": "fl_total_ns", "errors": "errors",
    "capacity": "capacity", "allocation": "allocation", "physical": "physical",
}

# An interface's bulk keys ("net.<N>.<key>") under the names of NicSample.
NIC_FIELDS = {
    "rx.bytes": "rx_bytes", "rx.pkts": "rx_packets", "rx.errs": "rx_errors",
    "rx.drop": "rx_drops", "tx.bytes": "tx_bytes", "tx.pkts": "tx_packets",
    "tx.errs": "tx_errors", "tx.drop": "tx_drops",
}

# The states in which a domain's QEMU answers its monitor, inside a domain job.
_JOB_STATES = frozenset({DomainState.RUNNING.value, DomainState.PAUSED.value})


def known(value: Optional[int]) -> Optional[int]:
    """libvirt says -1 (or leaves a field out) for "unknown"."""
    if value is None or value < 0:
        return None
    return int(value)


def required(description: Optional[Description]) -> Description:
    """The domain's description, which a group of numbers about devices needs."""
    if description is None:
        raise ValueError("a group that needs the domain's description was read without it")
    return description


# -- one parser per group ------------------------------------------------------

def cpu_from_bulk(stats: Stats) -> CpuSample:
    """The domain's CPU times and the vCPUs the statistics list."""
    vcpus = tuple(
        VcpuSample(index=index,
                   time_ns=known(stats.get(f"vcpu.{index}.time")),
                   wait_ns=known(stats.get(f"vcpu.{index}.wait")),
                   delay_ns=known(stats.get(f"vcpu.{index}.delay")))
        for index in range(int(stats.get("vcpu.maximum", 0)))
        if f"vcpu.{index}.time" in stats)
    return CpuSample(
        time_ns=int(stats["cpu.time"]),
        vcpu_count=int(stats.get("vcpu.current", len(vcpus) or 1)),
        user_ns=known(stats.get("cpu.user")),
        system_ns=known(stats.get("cpu.system")),
        vcpus=vcpus)


def memory_from_bulk(stats: Stats) -> MemorySample:
    """The configured sizes and the balloon's statistics."""
    balloon = {name: int(stats[f"balloon.{key}"]) for key, name in BALLOON_FIELDS.items()
               if f"balloon.{key}" in stats}
    return MemorySample(maximum_kib=known(stats.get("balloon.maximum")),
                        current_kib=known(stats.get("balloon.current")),
                        balloon=balloon)


def disks_from_bulk(stats: Stats) -> tuple[DiskSample, ...]:
    """The block devices the statistics name, with their counters and sizes."""
    # mypy holds a keyword dict's values to every field; only counters are in it.
    return tuple(DiskSample(name=entry("name"), source=entry("path"))
                 ._replace(**_numbers(entry, DISK_FIELDS))  # type: ignore[arg-type]
                 for entry in _named_devices(stats, "block"))


def nics_from_bulk(stats: Stats) -> tuple[NicSample, ...]:
    """The interfaces the statistics name, with their counters."""
    # mypy holds a keyword dict's values to every field; only counters are in it.
    return tuple(NicSample(name=entry("name"))
                 ._replace(**_numbers(entry, NIC_FIELDS))  # type: ignore[arg-type]
                 for entry in _named_devices(stats, "net"))


def _named_devices(stats: Stats, kind: str) -> Iterator[Callable[[str], Any]]:
    """For each device numbered under `kind` ("block", "net") that has a name (a
    NIC without a target has none): a reader of its entries by their key."""
    for index in range(int(stats[f"{kind}.count"])):
        prefix = f"{kind}.{index}."
        if f"{prefix}name" in stats:
            yield _entries(stats, prefix)


def _entries(stats: Stats, prefix: str) -> Callable[[str], Any]:
    """A reader of the entries under `prefix` by their key."""
    return lambda key: stats.get(prefix + key)


def _numbers(entry: Callable[[str], Any], fields: Mapping[str, str]) -> dict[str, Optional[int]]:
    return {name: known(entry(key)) for key, name in fields.items()}


# -- the description merged in ---------------------------------------------------

def with_balloon_config(memory: MemorySample, description: Description) -> MemorySample:
    """The memory sample with the balloon's model and stats period from the XML."""
    return memory._replace(balloon_model=description.balloon_model,
                           stats_period=description.stats_period)


def merge_disks(devices: tuple[DiskDevice, ...],
                counted: tuple[DiskSample, ...]) -> tuple[DiskSample, ...]:
    """Bulk counters with the XML's device type and source, in XML order."""
    by_name = {disk.name: disk for disk in counted}
    merged = []
    for device in devices:
        counted_disk = by_name.pop(device.name, DiskSample(device.name))
        merged.append(counted_disk._replace(device=device.device,
                                            source=device.source or counted_disk.source))
    return tuple(merged) + tuple(by_name.values())


def merge_nics(devices: tuple[NicDevice, ...],
               counted: tuple[NicSample, ...]) -> tuple[NicSample, ...]:
    """Bulk counters with the XML's MAC and source, in XML order."""
    by_name = {nic.name: nic for nic in counted}
    merged = [(by_name.pop(device.name, NicSample(device.name)) if device.name
               else NicSample(None))._replace(mac=device.mac, source=device.source,
                                              rx_limit_bps=device.rx_limit_bps,
                                              tx_limit_bps=device.tx_limit_bps)
              for device in devices]
    return tuple(merged) + tuple(by_name.values())


# -- what the answer says about itself -------------------------------------------

def in_job_state(stats: Stats) -> bool:
    """Whether the domain's state is one in which QEMU gives numbers inside a job.

    The balloon's memory statistics and the disks' counters come from QEMU's
    monitor inside a domain job; the sizes, the state, CPU and interfaces do not.
    """
    return stats.get("state.state") in _JOB_STATES


def balloon_job_numbers_left_out(stats: Stats) -> bool:
    """Whether the answer has the balloon's sizes but not its memory statistics."""
    return "balloon.current" in stats and "balloon.rss" not in stats


def block_job_numbers_left_out(stats: Stats) -> bool:
    """Whether the answer lists disks but the counters of none of them."""
    disks = int(stats.get("block.count", 0))
    return disks > 0 and not any(f"block.{index}.rd.reqs" in stats for index in range(disks))


def device_signature(identity: DomainIdentity, stats: Stats) -> Optional[str]:
    """The domain's run (ID) and device list as the statistics name them; None
    when they name none (a driver without bulk numbers)."""
    if "block.count" not in stats or "net.count" not in stats:
        return None
    disks = [stats.get(f"block.{index}.name") for index in range(int(stats["block.count"]))]
    nics = [stats.get(f"net.{index}.name") for index in range(int(stats["net.count"]))]
    return repr((identity.domain_id, disks, nics))
