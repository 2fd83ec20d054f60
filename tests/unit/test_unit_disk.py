"""check_vm_disk_io's readings from hand-made disk samples and measurements."""

from __future__ import annotations

import argparse

import pytest
from harness.fakes import FakeClock, MemorySlot, identity
from nagiosplugin.state import Ok, Unknown

from libcheck.disk import CHECK
from libcheck.errors import UsageError
from libcheck.evaluation import Unmeasured, judge
from libcheck.measure import Measurement, Measurer
from libcheck.rates import BaselinePolicy
from libcheck.samples import DiskSample, DomainSample
from libcheck.thresholds import Thresholds

MIB = 1024 * 1024
POLICY = BaselinePolicy(shortest_age=1.5, settled_age=5.0, max_age=3600.0)


def options(disks=(), exclude=()) -> argparse.Namespace:
    return argparse.Namespace(disk=list(disks), exclude_disk=list(exclude))


def vda(rd_bytes=0, wr_bytes=0, rd_reqs=0, wr_reqs=0, rd_ns=0, wr_ns=0, **extra) -> DiskSample:
    return DiskSample(name="vda", source="/img/vda.qcow2", device="disk", rd_bytes=rd_bytes,
                      wr_bytes=wr_bytes, rd_reqs=rd_reqs, wr_reqs=wr_reqs, rd_total_ns=rd_ns,
                      wr_total_ns=wr_ns, **extra)


def domain_sample(clock: FakeClock, *disks: DiskSample) -> DomainSample:
    return DomainSample(identity(), clock.wall, clock.mono, disks=disks)


def values(measurement: Measurement, opts=None) -> dict[str, float]:
    return {reading.label: reading.value
            for reading in CHECK.readings(measurement, opts or options())}


def measure_pair(first: DomainSample, second: DomainSample, seconds: float) -> Measurement:
    rates = {}
    for group, after in CHECK.counters(second).items():
        before = CHECK.counters(first).get(group, {})
        rates[group] = {name: (after[name] - before[name]) / seconds for name in after}
    return Measurement(second, rates, seconds)


def test_rates_latencies_and_sizes_of_one_busy_disk():
    clock = FakeClock()
    first = domain_sample(clock, vda())
    clock.advance(10)
    second = domain_sample(clock, vda(rd_bytes=16 * MIB, wr_bytes=32 * MIB, rd_reqs=32,
                                      wr_reqs=64, rd_ns=32 * 2_000_000, wr_ns=64 * 5_000_000,
                                      capacity=100, allocation=25, physical=30, errors=0))
    got = values(measure_pair(first, second, 10))
    assert got["vda_read_bytes_per_second"] == 16 * MIB / 10
    assert got["vda_write_bytes_per_second"] == 32 * MIB / 10
    assert got["vda_ops_per_second"] == pytest.approx(9.6)
    assert got["vda_read_latency"] == pytest.approx(2.0)
    assert got["vda_write_latency"] == pytest.approx(5.0)
    assert got["vda_allocation_usage"] == 25.0
    assert got["vda_errors"] == 0
    assert got["total_write_ops_per_second"] == pytest.approx(6.4)


def test_unknown_errors_are_omitted_never_minus_one():
    clock = FakeClock()
    got = values(measure_pair(domain_sample(clock, vda()), domain_sample(clock, vda()), 1))
    assert "vda_errors" not in got
    assert all(value >= 0 for value in got.values())


def test_no_total_times_means_no_latency_labels():
    disk = DiskSample(name="vda", source="/img/a", rd_bytes=0, wr_bytes=0, rd_reqs=0, wr_reqs=0)
    clock = FakeClock()
    got = values(measure_pair(domain_sample(clock, disk), domain_sample(clock, disk), 1))
    assert "vda_read_latency" not in got and "vda_ops_per_second" in got


def test_no_requests_means_zero_latency_not_a_division_error():
    clock = FakeClock()
    got = values(measure_pair(domain_sample(clock, vda()), domain_sample(clock, vda()), 5))
    assert (got["vda_read_latency"], got["vda_write_latency"]) == (0.0, 0.0)


def test_cdrom_and_disk_without_source_are_skipped_unless_named():
    cdrom = DiskSample(name="sda", device="cdrom", source="/iso/install.iso", rd_bytes=5,
                       wr_bytes=0, rd_reqs=1, wr_reqs=0)
    empty = DiskSample(name="vdc", device="disk")
    sample = domain_sample(FakeClock(), vda(), cdrom, empty)
    assert [d.name for d in CHECK.selected(sample, options())] == ["vda"]
    assert [d.name for d in CHECK.selected(sample, options(disks=["sda"]))] == ["sda"]
    assert [d.name for d in CHECK.selected(sample, options(exclude=["vda"]))] == []


def test_naming_an_absent_disk_is_a_usage_error():
    sample = domain_sample(FakeClock(), vda())
    with pytest.raises(UsageError, match="--exclude-disk vdz: this domain has no such disk"):
        CHECK.selected(sample, options(exclude=["vdz"]))


def test_counter_reset_on_one_disk_only_measures_that_disk_within_the_run():
    clock = FakeClock()
    vdb = lambda rd: DiskSample(name="vdb", source="/img/vdb", rd_bytes=rd)  # noqa: E731
    slot = MemorySlot()
    script = iter([
        (vda(rd_bytes=1000), vdb(5000)),          # first run, first sample
        (vda(rd_bytes=2000), vdb(6000)),          # first run, in-run sample
        (vda(rd_bytes=62000), vdb(100)),          # second run: vdb was reset
        (vda(rd_bytes=63500), vdb(400)),          # second run, in-run sample
    ])

    def read(not_before=None) -> DomainSample:
        return domain_sample(clock, *next(script))

    measurer = Measurer(read, CHECK.counters, POLICY, 1.5, sleep=clock.sleep)
    measurer.measure(slot)
    clock.advance(60)
    measurement = measurer.measure(slot)
    assert measurement.rates["vdb"]["rd_bytes"] == pytest.approx(300 / 1.5)  # within the run
    # vda keeps its long interval: (63500 - 2000) bytes over 61.5 s.
    assert measurement.rates["vda"]["rd_bytes"] == pytest.approx(61500 / 61.5)
    assert all(rate >= 0 for group in measurement.rates.values() for rate in group.values())


def test_removed_disk_is_dropped_from_the_state_and_a_new_one_measured():
    clock = FakeClock()
    vdb = DiskSample(name="vdb", source="/img/vdb", rd_bytes=0)
    vdc = DiskSample(name="vdc", source="/img/vdc", rd_bytes=0)
    script = iter([(vda(), vdb), (vda(), vdb), (vda(), vdc), (vda(), vdc)])
    slot = MemorySlot()
    measurer = Measurer(lambda _not_before: domain_sample(clock, *next(script)), CHECK.counters,
                        POLICY, 1.5, sleep=clock.sleep)
    measurer.measure(slot)
    clock.advance(60)
    measurement = measurer.measure(slot)
    assert set(measurement.rates) == {"vda", "vdc"}
    assert all("vdb" not in snapshot.counters for snapshot in slot.load())


# -- why a label has no value, and how a crossed one reads -------------------------------------

def judged(measurement: Measurement, opts=None, warnings=(), criticals=(), state=Unknown):
    opts = opts or options()
    readings = CHECK.readings(measurement, opts)
    reasons = Unmeasured(lambda target: CHECK.unmeasured_reason(measurement, opts, target),
                         state)
    return judge(CHECK.name, "vm1", CHECK.ok_text(measurement, readings), readings,
                 Thresholds(CHECK.specs, warnings, criticals), None, reasons)


def reason(measurement: Measurement, label: str, opts=None) -> str:
    outcome = judged(measurement, opts, warnings=[f"{label}=1"])
    assert outcome.state == Unknown, outcome
    prefix = f"vm1: threshold -w {label} judges nothing: "
    assert outcome.text.startswith(prefix), outcome.text
    return outcome.text[len(prefix):]


def two_disks(vda_disk: DiskSample = None) -> Measurement:
    clock = FakeClock()
    vdb = DiskSample(name="vdb", source="/img/vdb", device="disk", rd_bytes=0, wr_bytes=0,
                     rd_reqs=0, wr_reqs=0)
    cdrom = DiskSample(name="sda", device="cdrom", source=None)
    disk = vda_disk or vda()
    return measure_pair(domain_sample(clock, disk, vdb, cdrom),
                        domain_sample(clock, disk, vdb, cdrom), 10)


def test_a_disk_left_out_by_the_selection_is_the_reason():
    assert reason(two_disks(), "vdb_ops_per_second", options(disks=["vda"])) == (
        "disk vdb is not among the disks --disk names (vda)")
    assert reason(two_disks(), "vdb_read_latency", options(exclude=["vdb"])) == (
        "--exclude-disk vdb leaves it out")
    assert reason(two_disks(), "sda_ops_per_second") == (
        "disk sda (cdrom, source none) is reported only when named: --disk sda")


def test_a_counter_the_driver_lacks_is_the_reason_for_a_device_and_a_generic_label():
    no_times = DiskSample(name="vda", source="/img/a", device="disk", rd_bytes=0, wr_bytes=0,
                          rd_reqs=0, wr_reqs=0)
    measurement = two_disks(no_times)
    assert reason(measurement, "vda_read_latency") == (
        "this driver reports no time spent reading (QEMU's rd_total_times) for disk vda")
    assert reason(measurement, "disk_read_latency") == (
        "this driver reports no time spent reading (QEMU's rd_total_times) for disk vda; "
        "this driver reports no time spent reading (QEMU's rd_total_times) for disk vdb")
    assert reason(measurement, "disk_errors") == (
        "this driver reports no I/O errors (QEMU counts none) for disk vda; "
        "this driver reports no I/O errors (QEMU counts none) for disk vdb")
    assert reason(measurement, "vda_allocation_usage") == (
        "this driver reports no capacity and no allocation for disk vda")


def test_a_disk_reset_during_the_run_is_the_reason():
    measurement = two_disks()
    measurement = measurement._replace(rates={"vdb": measurement.rates["vdb"]})
    assert reason(measurement, "vda_write_ops_per_second") == (
        "the counters of disk vda went back during the run (it was reset); the next run "
        "measures again")


def test_a_total_without_any_part_gives_the_parts_reason():
    only_vda = DiskSample(name="vda", source="/img/a", device="disk", rd_bytes=0)
    clock = FakeClock()
    measurement = measure_pair(domain_sample(clock, only_vda), domain_sample(clock, only_vda), 1)
    assert reason(measurement, "total_write_ops_per_second") == (
        "this driver reports no write requests for disk vda")


def test_a_threshold_judged_by_some_disk_is_no_complaint():
    outcome = judged(two_disks(), warnings=["disk_read_latency=100", "vda_errors=1"])
    assert outcome.state == Unknown  # vda_errors: QEMU counts none
    outcome = judged(two_disks(), warnings=["disk_read_latency=100"])
    assert (outcome.state, outcome.notes) == (Ok, ())


def test_a_crossed_byte_rate_shows_the_digits_that_cross():
    clock = FakeClock()
    first = domain_sample(clock, vda())
    second = domain_sample(clock, vda(rd_bytes=500_010))
    outcome = judged(measure_pair(first, second, 10), warnings=["vda_read_bytes_per_second=50000"])
    assert outcome.text == "vm1: vda read 48.829 KiB/s (> 50000)"  # 50001 B/s


def test_flush_latency_is_time_per_flush_and_absent_without_flush_times():
    clock = FakeClock()
    first = domain_sample(clock, vda(fl_reqs=10, fl_total_ns=1_000_000))
    clock.advance(4)
    second = domain_sample(clock, vda(fl_reqs=30, fl_total_ns=61_000_000))
    got = values(measure_pair(first, second, 4))
    assert got["vda_flush_ops_per_second"] == pytest.approx(5.0)
    assert got["vda_flush_latency"] == pytest.approx(3.0)  # 60 ms over 20 flushes
    without = vda(fl_reqs=0)
    got = values(measure_pair(domain_sample(clock, without), domain_sample(clock, without), 1))
    assert "vda_flush_latency" not in got and "vda_flush_ops_per_second" in got
    assert reason(two_disks(without), "vda_flush_latency") == (
        "this driver reports no time spent flushing (QEMU's flush_total_times) for disk vda")
