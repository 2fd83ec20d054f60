"""check_vm_disk_io: per-disk throughput, IOPS, latency, errors and allocation.

Every disk of the domain is reported by its target name (vda, sdb...),
cdroms and disks without a source only when named.  The headline, which a
bare -w/-c range judges, is each disk's total IOPS: storage backends and
iotune limits cap operations per disk, and a single saturated disk must
alert even when the VM's other disks are idle (totals would hide it).
"""

from __future__ import annotations

import argparse

from nagiosplugin.state import Unknown

from libcheck.devices import Selection, add_selection_options, nothing_to_report
from libcheck.evaluation import Condition, Reading
from libcheck.measure import Measurement
from libcheck.metrics import (
    Declarations,
    Field,
    Metric,
    Rate,
    RatioOfRates,
    Reported,
    ShareOf,
    SumOfRates,
    TotalOf,
    Value,
    Wording,
)
from libcheck.perdevice import DeviceCheck
from libcheck.records import NamedTuple
from libcheck.samples import DiskSample, DomainSample, Group
from libcheck.thresholds import DISK_KIND, LabelSpec
from libcheck.units import human_bytes, whole

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Sequence

NS_PER_MS = 1e6

# What the rates or a percentage already say: left out first when the
# perfdata of many disks must fit a plugin's output.
CUMULATIVE, SIZES = 1, 2

RD_BYTES = Field("rd_bytes", "bytes read")
WR_BYTES = Field("wr_bytes", "bytes written")
RD_REQS = Field("rd_reqs", "read requests")
WR_REQS = Field("wr_reqs", "write requests")
RD_TOTAL_NS = Field("rd_total_ns", "time spent reading (QEMU's rd_total_times)")
WR_TOTAL_NS = Field("wr_total_ns", "time spent writing (QEMU's wr_total_times)")
FL_REQS = Field("fl_reqs", "flush requests")
FL_TOTAL_NS = Field("fl_total_ns", "time spent flushing (QEMU's flush_total_times)")
ERRORS_FIELD = Field("errors", "I/O errors (QEMU counts none)")
CAPACITY_FIELD = Field("capacity", "capacity")
ALLOCATION_FIELD = Field("allocation", "allocation")
PHYSICAL_FIELD = Field("physical", "physical size")


_DECLARE = Declarations()


def _per_disk(metric: str, uom: str, meaning: str, value: Value, wording: Wording,
              headline: bool = False, spare: int = 0) -> Metric:
    return _DECLARE(Metric(LabelSpec(metric, uom, meaning, kind=DISK_KIND, headline=headline,
                                     spare=spare), value, wording))


def _total(metric: str, meaning: str, part: Metric, wording: Wording) -> Metric:
    return _DECLARE(Metric(LabelSpec(metric, part.spec.uom, meaning), TotalOf(part), wording))


OPS = _per_disk("ops_per_second", "", "read + write operations per second (the headline)",
                SumOfRates(RD_REQS, WR_REQS), Wording("{device} ", " IOPS"), headline=True)
READ_BYTES = _per_disk("read_bytes_per_second", "B", "bytes read per second",
                       Rate(RD_BYTES), Wording("{device} read ", "/s", human_bytes))
WRITE_BYTES = _per_disk("write_bytes_per_second", "B", "bytes written per second",
                        Rate(WR_BYTES), Wording("{device} write ", "/s", human_bytes))
READ_OPS = _per_disk("read_ops_per_second", "", "read operations per second",
                     Rate(RD_REQS), Wording("{device} reads ", "/s"))
WRITE_OPS = _per_disk("write_ops_per_second", "", "write operations per second",
                      Rate(WR_REQS), Wording("{device} writes ", "/s"))
READ_LATENCY = _per_disk("read_latency", "ms", "average time per read over the interval",
                         RatioOfRates(RD_TOTAL_NS, RD_REQS, divisor=NS_PER_MS),
                         Wording("{device} read latency ", " ms"))
WRITE_LATENCY = _per_disk("write_latency", "ms", "average time per write over the interval",
                          RatioOfRates(WR_TOTAL_NS, WR_REQS, divisor=NS_PER_MS),
                          Wording("{device} write latency ", " ms"))
FLUSH_OPS = _per_disk("flush_ops_per_second", "", "flush operations per second",
                      Rate(FL_REQS), Wording("{device} flushes ", "/s"))
FLUSH_LATENCY = _per_disk("flush_latency", "ms", "average time per flush over the interval",
                          RatioOfRates(FL_TOTAL_NS, FL_REQS, divisor=NS_PER_MS),
                          Wording("{device} flush latency ", " ms"))
ERRORS = _per_disk("errors", "c", "I/O errors (cumulative), where the driver counts them",
                   Reported(ERRORS_FIELD), Wording("{device} errors ", "", whole),
                   spare=CUMULATIVE)
READ_TOTAL = _per_disk("read_bytes", "c", "bytes read (cumulative)", Reported(RD_BYTES),
                       Wording("{device} read in all ", "", whole), spare=CUMULATIVE)
WRITE_TOTAL = _per_disk("write_bytes", "c", "bytes written (cumulative)", Reported(WR_BYTES),
                        Wording("{device} written in all ", "", whole), spare=CUMULATIVE)
CAPACITY = _per_disk("capacity", "B", "virtual size of the disk", Reported(CAPACITY_FIELD),
                     Wording("{device} capacity ", "", human_bytes), spare=SIZES)
ALLOCATION = _per_disk("allocation", "B", "bytes allocated in the image (thin images grow)",
                       Reported(ALLOCATION_FIELD),
                       Wording("{device} allocation ", "", human_bytes), spare=SIZES)
PHYSICAL = _per_disk("physical", "B", "size of the image file or device on the host",
                     Reported(PHYSICAL_FIELD), Wording("{device} physical ", "", human_bytes),
                     spare=SIZES)
ALLOCATION_USAGE = _per_disk("allocation_usage", "%", "allocation in percent of capacity",
                             ShareOf(ALLOCATION_FIELD, CAPACITY_FIELD),
                             Wording("{device} allocation ", "% of capacity"))
TOTAL_READ_BYTES = _total("total_read_bytes_per_second", "all disks: bytes read per second",
                          READ_BYTES, Wording("all disks read ", "/s", human_bytes))
TOTAL_WRITE_BYTES = _total("total_write_bytes_per_second", "all disks: bytes written per "
                           "second", WRITE_BYTES, Wording("all disks write ", "/s", human_bytes))
TOTAL_READ_OPS = _total("total_read_ops_per_second", "all disks: reads per second", READ_OPS,
                        Wording("all disks ", " reads/s"))
TOTAL_WRITE_OPS = _total("total_write_ops_per_second", "all disks: writes per second",
                         WRITE_OPS, Wording("all disks ", " writes/s"))
TOTAL_OPS = _total("total_ops_per_second", "all disks: operations per second", OPS,
                   Wording("all disks ", " IOPS"))

# --help lists the labels in the order they are declared: the disks', then the totals.
PER_DISK = tuple(metric for metric in _DECLARE.all() if metric.spec.kind)
TOTALS = tuple(metric for metric in _DECLARE.all() if not metric.spec.kind)


def _skipped_by_default(disk: DiskSample) -> bool:
    return disk.device in ("cdrom", "floppy") or disk.source is None


class DiskOptions(NamedTuple):
    """The disk check's own options: the disks named and left out."""

    disk: Sequence[str]
    exclude_disk: Sequence[str]


class DiskCheck(DeviceCheck):
    """The disk check: per-disk rates, latencies and sizes, and totals."""

    name = "disk_io"
    description = ("Disk I/O of a KVM/QEMU domain per disk (throughput, IOPS, latency, "
                   "errors, allocation), measured from the hypervisor through libvirt.")
    groups = frozenset({Group.DISK})
    kind = DISK_KIND
    noun = "disk"
    per_device = PER_DISK
    totals = TOTALS
    Options = DiskOptions

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """--disk and --exclude-disk."""
        add_selection_options(parser, "disk", "NAME",
                              "report only this disk (target name such as vda; repeatable;"
                              " names a cdrom or a disk without source to include it)")

    def sample_fields(self) -> frozenset[str]:
        """A disk's fields."""
        return frozenset(DiskSample._fields)

    def devices_of(self, sample: DomainSample) -> Sequence[DiskSample]:
        """The domain's disks."""
        return sample.disks

    def selection(self, options: DiskOptions) -> Selection:
        """--disk and --exclude-disk."""
        return Selection("disk", options.disk, options.exclude_disk)

    def skipped_by_default(self, device: DiskSample) -> bool:
        """A cdrom, a floppy or a disk without a source is reported only when named."""
        return _skipped_by_default(device)

    def condition(self, measurement: Measurement, options: DiskOptions) -> Optional[Condition]:
        """UNKNOWN, and why, when no reported disk has counters to measure."""
        disks = measurement.sample.disks
        chosen = self.selected(measurement.sample, options)
        if any(self.counters_of(disk) for disk in chosen):
            return None
        if not disks:
            return Condition(Unknown, "the domain has no disks")
        if any(self.counters_of(disk) for disk in disks):
            return Condition(Unknown, nothing_to_report(
                "disk", [disk.name for disk in chosen], "no I/O statistics (an empty cdrom "
                                                        "or a disk without a source has none)"))
        return Condition(Unknown, "no disk has I/O statistics (cdroms and disks without a "
                                  "source have none)")

    def ok_text(self, measurement: Measurement, readings: list[Reading]) -> str:
        """One calm line: how many disks, throughput both ways, IOPS, busiest disk."""
        by_spec = {reading.spec: reading for reading in readings if reading.device is None}
        disks = [reading for reading in readings if reading.spec is OPS.spec]
        if not disks:
            return "no disks with I/O statistics"
        busiest = max(disks, key=lambda reading: reading.value)

        def total(metric: Metric) -> float:
            return by_spec[metric.spec].value if metric.spec in by_spec else 0.0

        return (f"{len(disks)} disk{'s' if len(disks) != 1 else ''}: "
                f"read {human_bytes(total(TOTAL_READ_BYTES))}/s, "
                f"write {human_bytes(total(TOTAL_WRITE_BYTES))}/s, "
                f"{total(TOTAL_OPS):.1f} IOPS (busiest {busiest.device})")

    def details(self, measurement: Measurement, options: DiskOptions) -> list[str]:
        """With -v: every disk, with its source and what is reported of it."""
        chosen = {disk.name for disk in self.selected(measurement.sample, options)}
        return [f"disk {disk.name}: {disk.device or 'disk'}, source {disk.source or 'none'}"
                + ("" if disk.name in chosen else " (not reported)")
                for disk in measurement.sample.disks]

    def why_left_out(self, device: DiskSample, options: DiskOptions) -> str:
        """Why a disk of the domain is not reported, from the selection options."""
        return _why_left_out(device, options)


def _why_left_out(disk: DiskSample, options: DiskOptions) -> str:
    """Why a disk of the domain is not reported, from the selection options."""
    if disk.name in options.exclude_disk:
        return f"--exclude-disk {disk.name} leaves it out"
    named = options.disk
    if named:
        return f"disk {disk.name} is not among the disks --disk names ({', '.join(named)})"
    return (f"disk {disk.name} ({disk.device or 'disk'}, source {disk.source or 'none'}) is "
            f"reported only when named: --disk {disk.name}")


CHECK = DiskCheck()
