"""check_vm_disk_io against libvirt's test driver, through the real executable.

The test driver's block counters grow with the clock (about 49 KiB/s read,
24 KiB/s written, 100k reads and 33k writes per second per disk) and it has
no per-request times, so no latency labels.  web01 on the custom node has
vda and vdb (with sources) and an empty cdrom sda.
"""

from __future__ import annotations

import re

import pytest
from harness.paths import DEFAULT_URI, NODE_URI, REPO

PER_DISK = {"ops_per_second": "", "read_bytes_per_second": "B",
            "write_bytes_per_second": "B", "read_ops_per_second": "",
            "write_ops_per_second": "", "errors": "c", "read_bytes": "c", "write_bytes": "c",
            "capacity": "B", "allocation": "B", "physical": "B", "allocation_usage": "%"}
TOTALS = {"total_read_bytes_per_second": "B", "total_write_bytes_per_second": "B",
          "total_read_ops_per_second": "", "total_write_ops_per_second": "",
          "total_ops_per_second": ""}


def test_every_disk_with_a_source_is_reported_and_the_cdrom_is_not(disk):
    run = disk("--connect", NODE_URI, "-d", "web01")
    assert run.returncode == 0, run.stdout
    assert re.match(r"^VM_DISK_IO OK - web01: 2 disks: read \d+\.\d KiB/s, write \d+\.\d "
                    r"KiB/s, \d+\.\d IOPS \(busiest vd[ab]\)$", run.status)
    expected = {f"{name}_{metric}": uom for name in ("vda", "vdb")
                for metric, uom in PER_DISK.items()} | TOTALS
    assert {label: item.uom for label, item in run.perfdata.items()} == expected
    assert all(item.minimum == "0" for item in run.perfdata.values())


def test_rates_follow_the_test_drivers_clock(disk):
    perf = disk("--connect", DEFAULT_URI, "-d", "test").perfdata
    assert perf["vda_read_bytes_per_second"].value == pytest.approx(2 * perf[
        "vda_write_bytes_per_second"].value, rel=0.01)
    assert perf["vda_ops_per_second"].value == pytest.approx(
        perf["vda_read_ops_per_second"].value + perf["vda_write_ops_per_second"].value)
    assert perf["total_ops_per_second"].value == perf["vda_ops_per_second"].value
    assert not any("latency" in label for label in perf)  # no times in the test driver


def test_totals_add_up_the_disks(disk):
    perf = disk("--connect", NODE_URI, "-d", "web01").perfdata
    for metric in ("read_bytes_per_second", "write_ops_per_second"):
        assert perf[f"total_{metric}"].value == pytest.approx(
            perf[f"vda_{metric}"].value + perf[f"vdb_{metric}"].value)


def test_selection_and_exclusion(disk):
    only_vdb = disk("--connect", NODE_URI, "-d", "web01", "--disk", "vdb").perfdata
    assert {label.split("_")[0] for label in only_vdb} == {"vdb", "total"}
    without_vdb = disk("--connect", NODE_URI, "-d", "web01", "--exclude-disk", "vdb").perfdata
    assert {label.split("_")[0] for label in without_vdb} == {"vda", "total"}


def test_unknown_disk_is_a_usage_error(disk):
    run = disk("--connect", NODE_URI, "-d", "web01", "--disk", "vdz")
    assert (run.returncode, run.stdout) == (
        3, "VM_DISK_IO UNKNOWN - --disk vdz: this domain has no such disk "
           "(it has: sda, vda, vdb)\n")


def test_bare_range_judges_every_disks_iops(disk):
    run = disk("--connect", NODE_URI, "-d", "web01", "-w", "1000", "-c", "10G")
    assert run.returncode == 1
    assert re.search(r": vd[ab] \d+\.\d IOPS \(> 1000\) \(\+1 more\)$", run.status)
    assert run.perfdata["vda_ops_per_second"].warn == "1000"
    assert run.perfdata["vdb_ops_per_second"].crit == "10000000000"
    assert run.perfdata["total_ops_per_second"].warn == ""


def test_disk_label_beats_the_generic_label(disk):
    run = disk("--connect", NODE_URI, "-d", "web01",
               "-w", "disk_read_bytes_per_second=1", "-w", "vda_read_bytes_per_second=1G")
    perf = run.perfdata
    assert (perf["vda_read_bytes_per_second"].warn, perf["vdb_read_bytes_per_second"].warn) == (
        "1000000000", "1")
    assert run.returncode == 1
    assert re.search(r": vdb read \d+\.\d KiB/s \(> 1\)$", run.status)


def test_allocation_threshold_catches_a_full_thin_image(disk):
    # The test driver's images are fully allocated (a hair over capacity).
    run = disk("--connect", DEFAULT_URI, "-d", "test", "-c", "disk_allocation_usage=90")
    assert run.returncode == 2
    assert run.status == "VM_DISK_IO CRITICAL - test: vda allocation 100.0% of capacity (> 90)"


def test_verbose_lists_every_disk_with_its_source(disk):
    run = disk("--connect", NODE_URI, "-d", "web01", "-v", "--exclude-disk", "vdb")
    assert "disk vda: disk, source /guest/web01-root.img" in run.lines
    assert "disk vdb: disk, source /guest/web01-data.img (not reported)" in run.lines
    assert "disk sda: cdrom, source none (not reported)" in run.lines


def test_threshold_for_a_disk_the_domain_lacks(disk):
    run = disk("--connect", DEFAULT_URI, "-d", "test", "-w", "vdq_read_latency=5")
    assert run.returncode == 3
    assert run.status == ("VM_DISK_IO UNKNOWN - threshold label 'vdq_read_latency': this "
                          "domain has no disk 'vdq' (it has: vda)")


def test_help_matches_the_golden_file(disk):
    run = disk("--help")
    assert run.returncode == 0
    assert run.stdout == (REPO / "tests" / "data" / "golden" /
                          "check_vm_disk_io.help").read_text()


def test_a_named_disk_without_statistics_is_unknown_naming_it(disk):
    run = disk("--connect", NODE_URI, "-d", "web01", "--disk", "sda")
    assert (run.returncode, run.stdout) == (
        3, "VM_DISK_IO UNKNOWN - web01: disk sda has no I/O statistics (an empty cdrom or "
           "a disk without a source has none)\n")


def test_nothing_left_to_report_is_unknown_with_the_reason(disk):
    run = disk("--connect", NODE_URI, "-d", "web01", "--exclude-disk", "vda",
               "--exclude-disk", "vdb")
    assert (run.returncode, run.stdout) == (
        3, "VM_DISK_IO UNKNOWN - web01: no disk left to report (see --disk and "
           "--exclude-disk)\n")


# -- thresholds that judge nothing ------------------------------------------------------------

def test_a_latency_threshold_without_request_times_is_unknown_saying_so(disk):
    run = disk("--connect", DEFAULT_URI, "-d", "test", "-c", "disk_read_latency=100")
    assert run.returncode == 3, run.stdout
    assert run.status == ("VM_DISK_IO UNKNOWN - test: threshold -c disk_read_latency judges "
                          "nothing: this driver reports no time spent reading (QEMU's "
                          "rd_total_times) for disk vda")


@pytest.mark.parametrize(("options", "reason"), [
    (("--disk", "vda"), "disk vdb is not among the disks --disk names (vda)"),
    (("--exclude-disk", "vdb"), "--exclude-disk vdb leaves it out"),
])
def test_a_threshold_on_a_disk_left_out_is_unknown_naming_the_option(disk, options, reason):
    run = disk("--connect", NODE_URI, "-d", "web01", *options, "-w", "vdb_ops_per_second=1")
    assert run.returncode == 3, run.stdout
    assert run.status == (f"VM_DISK_IO UNKNOWN - web01: threshold -w vdb_ops_per_second "
                          f"judges nothing: {reason}")


def test_a_threshold_on_a_disk_reported_only_when_named_says_how_to_name_it(disk):
    run = disk("--connect", NODE_URI, "-d", "web01", "-c", "sda_read_bytes_per_second=1M")
    assert run.returncode == 3, run.stdout
    assert run.status.endswith("judges nothing: disk sda (cdrom, source none) is reported only "
                               "when named: --disk sda")


def test_accepted_it_is_a_note_and_the_disks_are_judged(disk):
    run = disk("--connect", NODE_URI, "-d", "web01", "--disk", "vda", "-w",
               "vdb_ops_per_second=1", "-w", "1", "--state-if-unmeasured-threshold", "ok")
    assert run.returncode == 1, run.stdout
    assert re.fullmatch(r"VM_DISK_IO WARNING - web01: vda \d+\.\d IOPS \(> 1\)", run.status)
    assert run.lines[1:] == ["threshold -w vdb_ops_per_second judges nothing: disk vdb is not "
                             "among the disks --disk names (vda) (accepted: "
                             "--state-if-unmeasured-threshold ok)"]
