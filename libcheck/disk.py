"""check_vm_disk_io: per-disk throughput, IOPS, latency, errors and allocation.

Every disk of the domain is reported by its target name (vda, sdb...),
cdroms and disks without a source only when named.  The headline, which a
bare -w/-c range judges, is each disk's total IOPS: storage backends and
iotune limits cap operations per disk, and a single saturated disk must
alert even when the VM's other disks are idle (totals would hide it).
"""

from __future__ import annotations

import argparse
from typing import Optional

from nagiosplugin.state import Unknown

from libcheck.devices import (
    Selection,
    add_selection_options,
    device_label_reason,
    nothing_to_report,
)
from libcheck.evaluation import Condition, Phrase, Reading
from libcheck.measure import Measurement
from libcheck.rates import Counters
from libcheck.samples import DiskSample, DomainSample, Group
from libcheck.thresholds import LabelSpec, Target
from libcheck.units import decimal, human_bytes, whole

NS_PER_MS = 1e6


def _per_disk(metric: str, uom: str, meaning: str, headline: bool = False,
              spare: int = 0) -> LabelSpec:
    return LabelSpec(metric, uom, meaning, kind="disk", headline=headline, spare=spare)


# What the rates or a percentage already say: left out first when the
# perfdata of many disks must fit a plugin's output.
CUMULATIVE, SIZES = 1, 2


OPS = _per_disk("ops_per_second", "", "read + write operations per second (the headline)",
                headline=True)
READ_BYTES = _per_disk("read_bytes_per_second", "B", "bytes read per second")
WRITE_BYTES = _per_disk("write_bytes_per_second", "B", "bytes written per second")
READ_OPS = _per_disk("read_ops_per_second", "", "read operations per second")
WRITE_OPS = _per_disk("write_ops_per_second", "", "write operations per second")
READ_LATENCY = _per_disk("read_latency", "ms", "average time per read over the interval")
WRITE_LATENCY = _per_disk("write_latency", "ms", "average time per write over the interval")
FLUSH_OPS = _per_disk("flush_ops_per_second", "", "flush operations per second")
ERRORS = _per_disk("errors", "c", "I/O errors (cumulative), where the driver counts them",
                   spare=CUMULATIVE)
READ_TOTAL = _per_disk("read_bytes", "c", "bytes read (cumulative)", spare=CUMULATIVE)
WRITE_TOTAL = _per_disk("write_bytes", "c", "bytes written (cumulative)", spare=CUMULATIVE)
CAPACITY = _per_disk("capacity", "B", "virtual size of the disk", spare=SIZES)
ALLOCATION = _per_disk("allocation", "B", "bytes allocated in the image (thin images grow)",
                       spare=SIZES)
PHYSICAL = _per_disk("physical", "B", "size of the image file or device on the host",
                     spare=SIZES)
ALLOCATION_USAGE = _per_disk("allocation_usage", "%", "allocation in percent of capacity")
TOTAL_READ_BYTES = LabelSpec("total_read_bytes_per_second", "B", "all disks: bytes read per "
                             "second")
TOTAL_WRITE_BYTES = LabelSpec("total_write_bytes_per_second", "B", "all disks: bytes written "
                              "per second")
TOTAL_READ_OPS = LabelSpec("total_read_ops_per_second", "", "all disks: reads per second")
TOTAL_WRITE_OPS = LabelSpec("total_write_ops_per_second", "", "all disks: writes per second")
TOTAL_OPS = LabelSpec("total_ops_per_second", "", "all disks: operations per second")

SPECS = (OPS, READ_BYTES, WRITE_BYTES, READ_OPS, WRITE_OPS, READ_LATENCY, WRITE_LATENCY,
         FLUSH_OPS, ERRORS, READ_TOTAL, WRITE_TOTAL, CAPACITY, ALLOCATION, PHYSICAL,
         ALLOCATION_USAGE, TOTAL_READ_BYTES, TOTAL_WRITE_BYTES, TOTAL_READ_OPS,
         TOTAL_WRITE_OPS, TOTAL_OPS)

_COUNTERS = ("rd_bytes", "wr_bytes", "rd_reqs", "wr_reqs", "rd_total_ns", "wr_total_ns",
             "fl_reqs")
_RATES = ((READ_BYTES, "rd_bytes", "read"), (WRITE_BYTES, "wr_bytes", "write"),
          (READ_OPS, "rd_reqs", "reads"), (WRITE_OPS, "wr_reqs", "writes"),
          (FLUSH_OPS, "fl_reqs", "flushes"))
_SIZES = ((CAPACITY, "capacity"), (ALLOCATION, "allocation"), (PHYSICAL, "physical"))
_TOTALS = ((TOTAL_READ_BYTES, READ_BYTES, "read ", "/s"),
           (TOTAL_WRITE_BYTES, WRITE_BYTES, "write ", "/s"),
           (TOTAL_READ_OPS, READ_OPS, "", " reads/s"),
           (TOTAL_WRITE_OPS, WRITE_OPS, "", " writes/s"),
           (TOTAL_OPS, OPS, "", " IOPS"))

# What each per-disk label needs from the disk's sample, and how to say it is missing.
_NEEDS = {OPS: ("rd_reqs", "wr_reqs"), READ_BYTES: ("rd_bytes",), WRITE_BYTES: ("wr_bytes",),
          READ_OPS: ("rd_reqs",), WRITE_OPS: ("wr_reqs",), FLUSH_OPS: ("fl_reqs",),
          READ_LATENCY: ("rd_reqs", "rd_total_ns"), WRITE_LATENCY: ("wr_reqs", "wr_total_ns"),
          ERRORS: ("errors",), READ_TOTAL: ("rd_bytes",), WRITE_TOTAL: ("wr_bytes",),
          CAPACITY: ("capacity",), ALLOCATION: ("allocation",), PHYSICAL: ("physical",),
          ALLOCATION_USAGE: ("capacity", "allocation")}
_FIELD_WORDS = {"rd_bytes": "bytes read", "wr_bytes": "bytes written",
                "rd_reqs": "read requests", "wr_reqs": "write requests",
                "rd_total_ns": "time spent reading (QEMU's rd_total_times)",
                "wr_total_ns": "time spent writing (QEMU's wr_total_times)",
                "fl_reqs": "flush requests", "errors": "I/O errors (QEMU counts none)",
                "capacity": "capacity", "allocation": "allocation", "physical": "physical size"}
_RATE_SPECS = (OPS, READ_BYTES, WRITE_BYTES, READ_OPS, WRITE_OPS, FLUSH_OPS, READ_LATENCY,
               WRITE_LATENCY)


def _number(spec: LabelSpec):
    return human_bytes if spec.uom == "B" else decimal


def _skipped_by_default(disk: DiskSample) -> bool:
    return disk.device in ("cdrom", "floppy") or disk.source is None


class DiskCheck:
    """The disk check: per-disk rates, latencies and sizes, and totals."""

    name = "disk_io"
    title = "VM_DISK_IO"
    description = ("Disk I/O of a KVM/QEMU domain per disk (throughput, IOPS, latency, "
                   "errors, allocation), measured from the hypervisor through libvirt.")
    groups = frozenset({Group.DISK})
    specs = SPECS

    @staticmethod
    def add_options(parser: argparse.ArgumentParser) -> None:
        """--disk and --exclude-disk."""
        add_selection_options(parser, "disk", "NAME",
                              "report only this disk (target name such as vda; repeatable;"
                              " names a cdrom or a disk without source to include it)")

    @staticmethod
    def counters(sample: DomainSample) -> Counters:
        """Each disk's cumulative counters, by target name."""
        counters = {}
        for disk in sample.disks:
            values = DiskCheck.counters_of(disk)
            if values:
                counters[disk.name] = values
        return counters

    @staticmethod
    def counters_of(disk: DiskSample) -> dict[str, int]:
        """One disk's cumulative counters that the driver knows."""
        return {name: getattr(disk, name) for name in _COUNTERS
                if getattr(disk, name) is not None}

    @staticmethod
    def devices(sample: DomainSample) -> dict[str, list[str]]:
        """The disks a threshold label may name."""
        return {"disk": [disk.name for disk in sample.disks]}

    @staticmethod
    def selected(sample: DomainSample, options) -> list[DiskSample]:
        """The disks to report."""
        selection = Selection("disk", getattr(options, "disk", ()),
                              getattr(options, "exclude_disk", ()))
        return selection.choose(sample.disks, lambda disk: {disk.name}, _skipped_by_default)

    def readings(self, measurement: Measurement, options) -> list[Reading]:
        """Per-disk readings of the chosen disks, then the totals."""
        readings = []
        for disk in self.selected(measurement.sample, options):
            readings += self._disk_readings(measurement, disk)
        return readings + self._totals(readings)

    def _disk_readings(self, measurement: Measurement, disk: DiskSample) -> list[Reading]:
        rates = measurement.rates.get(disk.name, {})
        readings = [self._ops(disk.name, rates)] if {"rd_reqs", "wr_reqs"} <= set(rates) else []
        for spec, counter, words in _RATES:
            if counter in rates:
                readings.append(Reading.of(spec, rates[counter],
                                           Phrase(f"{disk.name} {words} ", "/s", _number(spec)),
                                           disk.name))
        readings += self._latencies(disk.name, rates)
        return readings + self._counters_and_sizes(disk)

    @staticmethod
    def _ops(name: str, rates: dict) -> Reading:
        total = rates["rd_reqs"] + rates["wr_reqs"]
        return Reading.of(OPS, total, Phrase(f"{name} ", " IOPS"), name)

    @staticmethod
    def _latencies(name: str, rates: dict) -> list[Reading]:
        readings = []
        for spec, reqs, total, words in ((READ_LATENCY, "rd_reqs", "rd_total_ns", "read"),
                                         (WRITE_LATENCY, "wr_reqs", "wr_total_ns", "write")):
            if reqs in rates and total in rates:
                latency = _latency_ms(rates[total], rates[reqs])
                readings.append(Reading.of(spec, latency,
                                           Phrase(f"{name} {words} latency ", " ms"), name))
        return readings

    @staticmethod
    def _counters_and_sizes(disk: DiskSample) -> list[Reading]:
        readings = []
        for spec, value, words in ((ERRORS, disk.errors, "errors"),
                                   (READ_TOTAL, disk.rd_bytes, "read in all"),
                                   (WRITE_TOTAL, disk.wr_bytes, "written in all")):
            if value is not None:
                readings.append(Reading.of(spec, value, Phrase(f"{disk.name} {words} ", "", whole),
                                           disk.name))
        for spec, field in _SIZES:
            value = getattr(disk, field)
            if value is not None:
                readings.append(Reading.of(spec, value,
                                           Phrase(f"{disk.name} {field} ", "", human_bytes),
                                           disk.name))
        if disk.capacity and disk.allocation is not None:
            share = disk.allocation / disk.capacity * 100
            readings.append(Reading.of(ALLOCATION_USAGE, share,
                                       Phrase(f"{disk.name} allocation ", "% of capacity"),
                                       disk.name))
        return readings

    @staticmethod
    def _totals(readings: list[Reading]) -> list[Reading]:
        totals = []
        for total, part, before, after in _TOTALS:
            values = [reading.value for reading in readings if reading.spec is part]
            if values:
                value = sum(values)
                totals.append(Reading.of(total, value,
                                         Phrase(f"all disks {before}", after, _number(total))))
        return totals

    def unmeasured_reason(self, measurement: Measurement, options,
                          target: Target) -> Optional[str]:
        """Why a disk label has no value in this run, where the check knows."""
        spec = next((part for total, part, *_ in _TOTALS if total is target.spec), target.spec)
        return device_label_reason(
            target.device, self.selected(measurement.sample, options), measurement.sample.disks,
            lambda disk: _why_unmeasured(disk, spec, measurement),
            lambda disk: _why_left_out(disk, options))

    def condition(self, measurement: Measurement, options) -> Optional[Condition]:
        """UNKNOWN, and why, when no reported disk has counters to measure."""
        disks = measurement.sample.disks
        if any(self.counters_of(disk) for disk in self.selected(measurement.sample, options)):
            return None
        if not disks:
            return Condition(Unknown, "the domain has no disks")
        if any(self.counters_of(disk) for disk in disks):
            chosen = [disk.name for disk in self.selected(measurement.sample, options)]
            return Condition(Unknown, nothing_to_report(
                "disk", chosen, "no I/O statistics (an empty cdrom or a disk without a source "
                                "has none)"))
        return Condition(Unknown, "no disk has I/O statistics (cdroms and disks without a "
                                  "source have none)")

    def ok_text(self, measurement: Measurement, readings: list[Reading]) -> str:
        """One calm line: how many disks, throughput both ways, IOPS, busiest disk."""
        by_spec = {reading.spec: reading for reading in readings if reading.device is None}
        disks = [reading for reading in readings if reading.spec is OPS]
        if not disks:
            return "no disks with I/O statistics"
        busiest = max(disks, key=lambda reading: reading.value)

        def total(spec: LabelSpec) -> float:
            return by_spec[spec].value if spec in by_spec else 0.0

        return (f"{len(disks)} disk{'s' if len(disks) != 1 else ''}: "
                f"read {human_bytes(total(TOTAL_READ_BYTES))}/s, "
                f"write {human_bytes(total(TOTAL_WRITE_BYTES))}/s, "
                f"{total(TOTAL_OPS):.1f} IOPS (busiest {busiest.device})")

    def details(self, measurement: Measurement, options) -> list[str]:
        """With -v: every disk, with its source and what is reported of it."""
        chosen = {disk.name for disk in self.selected(measurement.sample, options)}
        return [f"disk {disk.name}: {disk.device or 'disk'}, source {disk.source or 'none'}"
                + ("" if disk.name in chosen else " (not reported)")
                for disk in measurement.sample.disks]


def _why_left_out(disk: DiskSample, options) -> str:
    """Why a disk of the domain is not reported, from the selection options."""
    if disk.name in getattr(options, "exclude_disk", ()):
        return f"--exclude-disk {disk.name} leaves it out"
    named = getattr(options, "disk", ())
    if named:
        return f"disk {disk.name} is not among the disks --disk names ({', '.join(named)})"
    return (f"disk {disk.name} ({disk.device or 'disk'}, source {disk.source or 'none'}) is "
            f"reported only when named: --disk {disk.name}")


def _why_unmeasured(disk: DiskSample, spec: LabelSpec, measurement: Measurement
                    ) -> Optional[str]:
    """Why one reported disk has no value for a metric, where the sample tells."""
    missing = [field for field in _NEEDS.get(spec, ()) if getattr(disk, field) is None]
    if missing:
        return (f"this driver reports no {' and no '.join(_FIELD_WORDS[f] for f in missing)} "
                f"for disk {disk.name}")
    if spec in _RATE_SPECS and disk.name not in measurement.rates:
        return (f"the counters of disk {disk.name} went back during the run (it was reset); "
                "the next run measures again")
    if spec is ALLOCATION_USAGE and not disk.capacity:
        return f"disk {disk.name} has a capacity of 0"
    return None


def _latency_ms(total_ns_rate: float, requests_rate: float) -> float:
    # The seconds cancel: ns per second over requests per second.
    return total_ns_rate / requests_rate / NS_PER_MS if requests_rate > 0 else 0.0


CHECK = DiskCheck()
