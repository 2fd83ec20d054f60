"""check_vm_mem against a real QEMU guest whose memory the test commands.

Ground truth is the guest's own /proc/meminfo (the `meminfo` command) and
what the test asks it to hold: `alloc 64` keeps 64 MiB in tmpfs, `free`
drops it.  Measured here: the balloon's `available` is exactly MemTotal and
`usable` exactly MemAvailable, and holding 64 MiB moves usable by -64 MiB
within 1%.  The tolerance of 4 MiB covers that 1% and the guest's own small
allocations between the balloon poll and the meminfo read.

Page faults are commanded too: `fault 64` fills 64 MiB of fresh anonymous
memory, one minor fault per 4 KiB page (the guest turns transparent huge
pages off).  Swapping and major faults cannot be commanded: the guest has no
swap device (one would be a disk that the disk tests count, and how much the
kernel swaps under memory pressure is its choice, not a test's), and every
file it maps lives in its initramfs, in memory, so no fault ever waits for a
disk.  For them the known amount is none: their rates must be exactly 0.

The guest's counters move only when the balloon is polled, every 2 s, and the
check divides them by the time between the two polls its samples saw
(last_update, whole seconds of the hypervisor's clock), not by its own
interval.  So the test times the polls themselves on its own clock: it waits
for a poll, runs the check at once (which then sees that poll), and brackets
the poll's moment between two of its own readings.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import libvirt
import pytest
from harness.checkrun import CheckRun, run_check
from harness.vm.bracket import Bracket, sleep_until, timed

pytestmark = pytest.mark.realvm

MIB = 1024 * 1024
HELD_MIB = 64
TOLERANCE = 4 * MIB
STATS_TIMEOUT = 15.0
STATS_PERIOD = 2
FAULT_MIB = 64
PAGE_BYTES = 4096
# Minor faults besides the commanded ones between two polls, at most: the
# command loop forking dd, dd's own start, and an otherwise idle guest
# (measured here: 44 in 14 s).
FAULT_NOISE = 500
# last_update counts whole seconds: two stamps are that much off the polls' moments.
STAMP_RESOLUTION_SECONDS = 1.0
# From the first run to the poll the second run sees: longer than the stale
# bound of three stats periods + 5 s, so freshness is judged by the updates.
SPACING_SECONDS = 12.0
POLL_CHECK_SECONDS = 0.02
# The polls' bracket is a second wider each side than the runs' (stamp
# resolution); the check's own interval plays no part in these rates, so the
# bracket need not be tight enough to catch an error in it.
MAX_POLL_SPREAD = 1.25


def mem_runner(hypervisor, guest, state_dir):
    """Run check_vm_mem -v against a domain of the tier, with the state in `state_dir`."""
    def run(*args: str, domain: str | None = None) -> CheckRun:
        return run_check("check_vm_mem", "--connect", hypervisor.uri, "-v",
                         "-d", domain or guest.name, *args, state_dir=state_dir)
    return run


@pytest.fixture
def mem(hypervisor, guest, tmp_path):
    """Run check_vm_mem -v against a domain of the tier with a fresh state dir."""
    return mem_runner(hypervisor, guest, tmp_path / "state")


@dataclass(frozen=True)
class Poll:
    """One balloon poll: its last_update, and the monotonic moments it came between."""

    stamp: int
    after: float
    before: float


def next_poll(domain: libvirt.virDomain) -> Poll:
    """Wait for the balloon's next poll and bracket its moment on the test's clock."""
    stamp_before = domain.memoryStats().get("last_update", 0)
    deadline = time.monotonic() + STATS_TIMEOUT
    asked = time.monotonic()
    while True:
        last_asked, asked = asked, time.monotonic()
        stamp = domain.memoryStats().get("last_update", 0)
        if stamp != stamp_before:
            return Poll(stamp, last_asked, time.monotonic())
        assert asked < deadline, "the balloon statistics stopped updating"
        time.sleep(POLL_CHECK_SECONDS)


def stamp_seen(run: CheckRun) -> int:
    """The last_update the run read, from its -v long output."""
    match = re.search(r"\blast_update=(\d+)", run.stdout)
    assert match, run.stdout
    return int(match.group(1))


def used_bytes(run: CheckRun) -> float:
    assert run.returncode == 0, run.stdout
    return run.perfdata["mem_used"].value


def test_used_memory_matches_the_guests_own_view(mem, guest):
    next_poll(guest.domain)
    run = mem()
    meminfo = guest.meminfo()
    assert run.returncode == 0, run.stdout
    assert run.perfdata["mem_available"].value == meminfo["MemTotal"] * 1024
    truth = (meminfo["MemTotal"] - meminfo["MemAvailable"]) * 1024
    assert used_bytes(run) == pytest.approx(truth, abs=TOLERANCE)
    usage = truth / (meminfo["MemTotal"] * 1024) * 100
    assert run.perfdata["mem_usage"].value == pytest.approx(usage, abs=2.0)


def test_holding_and_freeing_64_mib_moves_used_by_64_mib(mem, guest):
    next_poll(guest.domain)
    before = used_bytes(mem())
    guest.command(f"alloc {HELD_MIB}")
    try:
        next_poll(guest.domain)
        held = used_bytes(mem())
    finally:
        guest.command("free")
    next_poll(guest.domain)
    after = used_bytes(mem())
    assert held - before == pytest.approx(HELD_MIB * MIB, abs=TOLERANCE)
    assert held - after == pytest.approx(HELD_MIB * MIB, abs=TOLERANCE)


@pytest.fixture(scope="module")
def runs_around_faults(hypervisor, guest, tmp_path_factory):
    """Two runs, each right after a poll, with `fault 64` between them:
    (first poll, second poll, second run).  Made once for the module."""
    mem = mem_runner(hypervisor, guest, tmp_path_factory.mktemp("mem") / "state")
    first_poll = next_poll(guest.domain)
    # A short first run (0.1 s between its samples) sees no later poll.
    first = timed(lambda: mem("-v", "--sample-interval", "0.1"))
    assert stamp_seen(first.result) == first_poll.stamp, "a poll came during the first run"
    guest.command(f"fault {FAULT_MIB}")
    sleep_until(first.ended + SPACING_SECONDS)
    second_poll = next_poll(guest.domain)
    run = mem("-v")
    assert run.returncode == 0, run.stdout
    assert stamp_seen(run) == second_poll.stamp, "a poll came before the second run read"
    assert "since the previous run" in run.stdout
    return first_poll, second_poll, run


def test_minor_faults_per_second_are_the_faults_the_guest_made(runs_around_faults):
    first_poll, second_poll, run = runs_around_faults
    # The rate is per second between the two polls, which last_update stamps
    # to the whole second.
    polls = Bracket(second_poll.after - first_poll.before - STAMP_RESOLUTION_SECONDS,
                    second_poll.before - first_poll.after + STAMP_RESOLUTION_SECONDS)
    faults = FAULT_MIB * MIB // PAGE_BYTES
    polls.assert_rate("minor_faults_per_second", run.perfdata["minor_faults_per_second"].value,
                      faults, faults + FAULT_NOISE, max_spread=MAX_POLL_SPREAD)


def test_no_swapping_and_no_major_faults_where_the_guest_cannot_have_them(runs_around_faults):
    _first_poll, _second_poll, run = runs_around_faults
    for label in ("swap_in_bytes_per_second", "swap_out_bytes_per_second",
                  "major_faults_per_second"):
        assert run.perfdata[label].value == 0, label


def test_freshness_follows_the_updates_between_two_runs(runs_around_faults):
    first_poll, second_poll, run = runs_around_faults
    advance = second_poll.stamp - first_poll.stamp
    match = re.search(r"^balloon last_update advanced (\d+) s in (\d+\.\d) s between two "
                      r"samples$", run.stdout, re.MULTILINE)
    assert match, run.stdout
    assert int(match.group(1)) == advance
    # This host and the hypervisor are one machine here: the advance is the
    # interval, give or take a stats period and a second of stamp resolution.
    assert float(match.group(2)) == pytest.approx(advance, abs=STATS_PERIOD + 1)
    assert run.status.startswith("VM_MEM OK - ")


def test_real_guest_reports_host_rss_and_the_balloon_fields(mem):
    run = mem()
    perf = run.perfdata
    for label in ("host_rss", "balloon_actual", "mem_usable", "mem_unused"):
        assert label in perf, label
        assert perf[label].value > 0
    assert any(line.startswith("balloon model virtio, stats period 2 s") for line in run.lines)


def test_guest_without_balloon_gets_the_documented_fallback(mem, balloonless_guest):
    run = mem(domain=balloonless_guest)
    assert run.returncode == 3
    assert run.status.startswith(
        f"VM_MEM UNKNOWN - {balloonless_guest}: no balloon device (memballoon model 'none'): "
        "add <memballoon model='virtio'>")
    assert "host-side RSS" in run.status
    assert set(run.perfdata) <= {"host_rss", "host_rss_usage", "balloon_actual"}
    assert "mem_usage" not in run.perfdata
    run = mem("--state-if-no-balloon", "warning", domain=balloonless_guest)
    assert run.returncode == 1
