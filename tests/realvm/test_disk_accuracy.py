"""check_vm_disk_io against a real QEMU guest whose disk I/O the test commands.

Ground truth is what the test asks for: `write vda 32` writes 32 MiB to vda
and `read vdb 16` reads 16 MiB from vdb, both with O_DIRECT in 512 KiB
blocks, so QEMU counts exactly 32 MiB in 64 requests and 16 MiB in 32
requests (measured here; 1 MiB blocks are sometimes split in two).  The
cumulative counters must move by exactly that much; the rates, multiplied by
the interval printed with -vv (to 10 ms), within 1%.  Nothing else in the
guest touches the raw disks, so the other direction of each disk stays at 0.
"""

from __future__ import annotations

import re

import pytest
from checkrun import CheckRun, run_check

pytestmark = pytest.mark.realvm

MIB = 1024 * 1024
WRITE_MIB, READ_MIB = 32, 16
REQUEST_BYTES = 512 * 1024
RATE_TOLERANCE = 0.01


@pytest.fixture
def disk_io(hypervisor, guest, tmp_path):
    """Run check_vm_disk_io -vv against the guest with a fresh state dir."""
    def run(*args: str) -> CheckRun:
        return run_check("check_vm_disk_io", "--connect", hypervisor.uri, "-vv",
                         "-d", guest.name, *args, state_dir=tmp_path / "state")
    return run


def interval_of(run: CheckRun) -> float:
    match = re.search(r"rates measured over (\d+\.\d+) s", run.stdout)
    assert match, run.stdout
    return float(match.group(1))


@pytest.fixture
def runs_around_the_io(disk_io, guest):
    """Two runs with `write vda 32` and `read vdb 16` between them."""
    before = disk_io()
    guest.command(f"write vda {WRITE_MIB}")
    guest.command(f"read vdb {READ_MIB}")
    after = disk_io()
    assert before.returncode == after.returncode == 0, after.stdout
    assert "since the previous run" in after.stdout
    return before, after


def moved(before: CheckRun, after: CheckRun, label: str) -> float:
    return after.perfdata[label].value - before.perfdata[label].value


def test_counters_move_by_exactly_what_the_guest_did(runs_around_the_io):
    before, after = runs_around_the_io
    assert moved(before, after, "vda_write_bytes") == WRITE_MIB * MIB
    assert moved(before, after, "vdb_read_bytes") == READ_MIB * MIB
    assert moved(before, after, "vda_read_bytes") == 0
    assert moved(before, after, "vdb_write_bytes") == 0


def test_rates_give_bytes_and_operations_per_disk(runs_around_the_io):
    _, after = runs_around_the_io
    seconds, perf = interval_of(after), after.perfdata
    expected = {
        "vda_write_bytes_per_second": WRITE_MIB * MIB,
        "vda_write_ops_per_second": WRITE_MIB * MIB / REQUEST_BYTES,
        "vdb_read_bytes_per_second": READ_MIB * MIB,
        "vdb_read_ops_per_second": READ_MIB * MIB / REQUEST_BYTES,
        "total_write_bytes_per_second": WRITE_MIB * MIB,
        "total_read_bytes_per_second": READ_MIB * MIB,
    }
    for label, amount in expected.items():
        assert perf[label].value * seconds == pytest.approx(amount, rel=RATE_TOLERANCE), label


def test_the_idle_direction_of_each_disk_stays_idle(runs_around_the_io):
    _, after = runs_around_the_io
    perf = after.perfdata
    for label in ("vda_read_bytes_per_second", "vda_read_ops_per_second",
                  "vdb_write_bytes_per_second", "vdb_write_ops_per_second"):
        assert perf[label].value == 0, label


def test_latency_is_present_and_positive_for_the_busy_disks(runs_around_the_io):
    _, after = runs_around_the_io
    perf = after.perfdata
    assert perf["vda_write_latency"].uom == "ms"
    assert 0 < perf["vda_write_latency"].value < 1000
    assert 0 < perf["vdb_read_latency"].value < 1000
    assert perf["vda_read_latency"].value == 0  # no reads, no latency


def test_real_disks_report_sizes_and_flushes(disk_io):
    perf = disk_io().perfdata
    for name in ("vda", "vdb"):
        assert perf[f"{name}_capacity"].value == 64 * MIB
        assert 0 <= perf[f"{name}_allocation_usage"].value <= 100
        assert f"{name}_flush_ops_per_second" in perf
        assert f"{name}_errors" not in perf  # QEMU says -1: unknown, so omitted

