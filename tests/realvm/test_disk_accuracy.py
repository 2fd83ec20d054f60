"""check_vm_disk_io against a real QEMU guest whose disk I/O the test commands.

Ground truth is what the test asks for: `write vda 32` writes 32 MiB to vda
and `read vdb 16` reads 16 MiB from vdb, both with O_DIRECT in 512 KiB
blocks, so QEMU counts exactly 32 MiB in 64 requests and 16 MiB in 32
requests (measured here; 1 MiB blocks are sometimes split in two).  The
cumulative counters must move by exactly that much, and each rate must lie
between that amount over the longest and over the shortest time the two
runs' samples can lie apart, by the test's own clock (see bracket.py).
Nothing else in the guest touches the raw disks, so the other direction of
each disk stays at 0.
"""

from __future__ import annotations

import pytest
from harness.checkrun import CheckRun, run_check
from harness.vm.bracket import Bracket, sleep_until, timed

pytestmark = pytest.mark.realvm

MIB = 1024 * 1024
WRITE_MIB, READ_MIB = 32, 16
REQUEST_BYTES = 512 * 1024
# From the end of the first run to the start of the second: long against the
# runs (a fraction of a second each), so that the bracket is tight.
SPACING_SECONDS = 8.0


def disk_io_runner(hypervisor, guest, state_dir):
    """Run check_vm_disk_io -vv against the guest with the state in `state_dir`."""
    def run(*args: str) -> CheckRun:
        return run_check("check_vm_disk_io", "--connect", hypervisor.uri, "-vv",
                         "-d", guest.name, *args, state_dir=state_dir)
    return run


@pytest.fixture
def disk_io(hypervisor, guest, tmp_path):
    """Run check_vm_disk_io -vv against the guest with a fresh state dir."""
    return disk_io_runner(hypervisor, guest, tmp_path / "state")


@pytest.fixture(scope="module")
def timed_runs_around_the_io(hypervisor, guest, tmp_path_factory):
    """Two timed runs with `write vda 32` and `read vdb 16` between them; the
    first stores its baseline after a pause of 0.1 s, to keep the run short.

    Made once for the module: every test below reads the same I/O.
    """
    disk_io = disk_io_runner(hypervisor, guest, tmp_path_factory.mktemp("disk") / "state")
    first = timed(lambda: disk_io("--sample-interval", "0.1"))
    guest.command(f"write vda {WRITE_MIB}")
    guest.command(f"read vdb {READ_MIB}")
    sleep_until(first.ended + SPACING_SECONDS)
    second = timed(disk_io)
    before, after = first.result, second.result
    assert before.returncode == after.returncode == 0, after.stdout
    assert "since the previous run" in after.stdout
    return first, second


@pytest.fixture(scope="module")
def runs_around_the_io(timed_runs_around_the_io):
    """The two runs' results."""
    first, second = timed_runs_around_the_io
    return first.result, second.result


def moved(before: CheckRun, after: CheckRun, label: str) -> float:
    return after.perfdata[label].value - before.perfdata[label].value


def test_counters_move_by_exactly_what_the_guest_did(runs_around_the_io):
    before, after = runs_around_the_io
    assert moved(before, after, "vda_write_bytes") == WRITE_MIB * MIB
    assert moved(before, after, "vdb_read_bytes") == READ_MIB * MIB
    assert moved(before, after, "vda_read_bytes") == 0
    assert moved(before, after, "vdb_write_bytes") == 0


def test_rates_give_bytes_and_operations_per_disk(timed_runs_around_the_io):
    first, second = timed_runs_around_the_io
    bracket, perf = Bracket.between(first, second), second.result.perfdata
    expected = {
        "vda_write_bytes_per_second": WRITE_MIB * MIB,
        "vda_write_ops_per_second": WRITE_MIB * MIB / REQUEST_BYTES,
        "vdb_read_bytes_per_second": READ_MIB * MIB,
        "vdb_read_ops_per_second": READ_MIB * MIB / REQUEST_BYTES,
        "total_write_bytes_per_second": WRITE_MIB * MIB,
        "total_read_bytes_per_second": READ_MIB * MIB,
    }
    for label, amount in expected.items():
        bracket.assert_rate(label, perf[label].value, amount)


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



FLUSHES = 20


def test_flush_latency_is_no_more_than_the_flushes_took(disk_io, guest):
    """`flush vdb 20` makes 20 flushes (a 4 KiB write and an fsync each): the flush
    rate lies within the bracket, and the time per flush can be no more than the
    whole command took on the test's clock, shared by its flushes."""
    first = timed(lambda: disk_io("--sample-interval", "0.1"))
    command = timed(lambda: guest.command(f"flush vdb {FLUSHES}"))
    sleep_until(max(command.ended, first.ended + SPACING_SECONDS))
    second = timed(disk_io)
    assert first.result.returncode == second.result.returncode == 0, second.result.stdout
    assert "since the previous run" in second.result.stdout
    perf = second.result.perfdata
    Bracket.between(first, second).assert_rate("vdb_flush_ops_per_second",
                                               perf["vdb_flush_ops_per_second"].value, FLUSHES)
    latency = perf["vdb_flush_latency"]
    assert latency.uom == "ms"
    assert 0 < latency.value <= (command.ended - command.started) * 1000 / FLUSHES
    assert perf["vda_flush_latency"].value == 0  # no flush of vda: no time per flush
